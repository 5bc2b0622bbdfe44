package main

import (
	"errors"
	"flag"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"testing"
)

var server = &smtp.ServerInfo{Name: "smtp.azurecomm.net", TLS: true, Auth: []string{"LOGIN"}}

func TestLoginAuthAnswersTheUsernameThenThePasswordChallenge(t *testing.T) {
	auth := LoginAuth("acs.app.tenant", "s3cret", "smtp.azurecomm.net")
	mechanism, initial, err := auth.Start(server)
	if err != nil || mechanism != "LOGIN" || initial != nil {
		t.Fatalf("Start = %q, %q, %v; want LOGIN, no initial response, no error", mechanism, initial, err)
	}
	for _, step := range []struct{ challenge, answer string }{{"Username:", "acs.app.tenant"}, {"Password:", "s3cret"}} {
		answer, err := auth.Next([]byte(step.challenge), true)
		if err != nil || string(answer) != step.answer {
			t.Fatalf("Next(%q) = %q, %v; want %q", step.challenge, answer, err, step.answer)
		}
	}
	if _, err := auth.Next([]byte("Again:"), true); err == nil {
		t.Fatal("a third challenge must be an error, not a repeated password")
	}
	if answer, err := auth.Next([]byte("2.7.0 Authentication successful"), false); answer != nil || err != nil {
		t.Fatalf("Next(more=false) = %q, %v; want nothing", answer, err)
	}
}

func TestLoginAuthStartsOverOnEachLogin(t *testing.T) {
	auth := LoginAuth("user", "pass", "smtp.azurecomm.net")
	for i := 0; i < 2; i++ {
		if _, _, err := auth.Start(server); err != nil {
			t.Fatal(err)
		}
		if answer, _ := auth.Next([]byte("Username:"), true); string(answer) != "user" {
			t.Fatalf("login %d: the first answer is %q, not the username", i+1, answer)
		}
	}
}

func TestLoginAuthRefusesToSendCredentialsWithoutTLS(t *testing.T) {
	for _, host := range []string{"smtp.azurecomm.net", "localhost", "127.0.0.1"} {
		auth := LoginAuth("user", "pass", host)
		_, _, err := auth.Start(&smtp.ServerInfo{Name: host, TLS: false, Auth: []string{"LOGIN"}})
		if err == nil || !strings.Contains(err.Error(), "unencrypted") {
			t.Fatalf("%s without TLS: %v; want a refusal", host, err)
		}
	}
}

func TestLoginAuthRefusesAnotherHostAndAServerWithoutLogin(t *testing.T) {
	auth := LoginAuth("user", "pass", "smtp.azurecomm.net")
	if _, _, err := auth.Start(&smtp.ServerInfo{Name: "smtp.example.org", TLS: true, Auth: []string{"LOGIN"}}); err == nil {
		t.Fatal("credentials for smtp.azurecomm.net were offered to smtp.example.org")
	}
	_, _, err := auth.Start(&smtp.ServerInfo{Name: "smtp.azurecomm.net", TLS: true, Auth: []string{"PLAIN", "CRAM-MD5"}})
	if err == nil || !strings.Contains(err.Error(), "does not offer AUTH LOGIN") {
		t.Fatalf("a server without LOGIN: %v; want a refusal naming it", err)
	}
}

func TestSettingsNeverShowThePassword(t *testing.T) {
	settings := Settings{Host: "h", Port: 587, Username: "u", Password: "s3cret", From: "f@example.org"}
	if strings.Contains(settings.String(), "s3cret") {
		t.Fatal(settings.String())
	}
}

// -live: against the server the settings name (SMTP_* or SMTP_CONFIG_DIR, MAIL_TO, MAIL_SUBJECT), the
// standard library's own authenticators are refused and LoginAuth delivers one mail. The e2e suite runs it
// against the sandbox (tests/e2e/test_mail_clients.py); a user can run it against ACS:
// go test -run Live -live.
var live = flag.Bool("live", false, "send through the configured server (see TestLiveOnlyLoginAuthLogsIn)")

func TestLiveOnlyLoginAuthLogsIn(t *testing.T) {
	if !*live {
		t.Skip("needs -live and the SMTP_* settings")
	}
	settings, err := LoadSettings(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	to, subject := os.Getenv("MAIL_TO"), os.Getenv("MAIL_SUBJECT")
	stdlib := map[string]smtp.Auth{
		"smtp.PlainAuth":   smtp.PlainAuth("", settings.Username, settings.Password, settings.Host),
		"smtp.CRAMMD5Auth": smtp.CRAMMD5Auth(settings.Username, settings.Password),
	}
	for name, auth := range stdlib {
		err := Send(settings, auth, to, subject)
		var reply *textproto.Error
		if err == nil {
			t.Fatalf("%s was accepted: LOGIN is not the only mechanism this server takes", name)
		}
		if !errors.As(err, &reply) || reply.Code/100 != 5 || !strings.HasPrefix(err.Error(), "AUTH: ") {
			t.Fatalf("%s failed, but not with the server refusing AUTH: %v", name, err)
		}
		t.Logf("%s refused by the server: %v", name, err)
	}
	if err := Send(settings, LoginAuth(settings.Username, settings.Password, settings.Host), to, subject); err != nil {
		t.Fatalf("LoginAuth: %v", err)
	}
	t.Log("LoginAuth: delivered")
}
