// Command send sends one plain-text mail with the SMTP Secret the acs-smtp-operator writes,
// using only the standard library (net/smtp) and the LOGIN authenticator in loginauth.go.
//
//	send RECIPIENT SUBJECT        (or MAIL_TO=... MAIL_SUBJECT=... send)
//
// Settings, as a pod gets them:
//   - SMTP_CONFIG_DIR set: the files host, port, username, password, from in that directory (the Secret
//     mounted as a volume). They are read at every send, so a rotated password is picked up without a restart.
//   - otherwise: SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM (env[].valueFrom.secretKeyRef).
//
// STARTTLS is required (the certificate is verified against the system trust; SSL_CERT_FILE points it
// elsewhere), then AUTH LOGIN, the only mechanism Azure Communication Services accepts. Exit 0 once the
// server accepted the mail; otherwise one line on stderr and exit 1. The password is never printed.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Settings are the Secret's values. String leaves the password out.
type Settings struct {
	Host, Username, Password, From string
	Port                           int
}

func (s Settings) String() string {
	return fmt.Sprintf("Settings{Host:%s Port:%d Username:%s From:%s}", s.Host, s.Port, s.Username, s.From)
}

// fields: the Secret's key (a file name under SMTP_CONFIG_DIR) and the environment variable of each setting.
var fields = [][2]string{
	{"host", "SMTP_HOST"},
	{"port", "SMTP_PORT"},
	{"username", "SMTP_USERNAME"},
	{"password", "SMTP_PASSWORD"},
	{"from", "SMTP_FROM"},
}

// LoadSettings reads the files in SMTP_CONFIG_DIR when it is set, else the SMTP_* variables.
func LoadSettings(getenv func(string) (string, bool)) (Settings, error) {
	values := map[string]string{}
	dir, _ := getenv("SMTP_CONFIG_DIR")
	for _, field := range fields {
		key, variable := field[0], field[1]
		var value string
		if dir != "" {
			path := filepath.Join(dir, key)
			content, err := os.ReadFile(path)
			if err != nil {
				var pathError *fs.PathError
				if errors.As(err, &pathError) {
					err = pathError.Err
				}
				return Settings{}, fmt.Errorf("cannot read %s: %w", path, err)
			}
			value = strings.TrimRight(string(content), "\r\n")
		} else {
			found, ok := getenv(variable)
			if !ok {
				return Settings{}, fmt.Errorf("%s is not set (nor SMTP_CONFIG_DIR)", variable)
			}
			value = found
		}
		if value == "" {
			return Settings{}, fmt.Errorf("%s is empty", key)
		}
		values[key] = value
	}
	port, err := strconv.Atoi(values["port"])
	if err != nil || port <= 0 {
		return Settings{}, fmt.Errorf("port is not a number: %q", values["port"])
	}
	return Settings{Host: values["host"], Port: port, Username: values["username"], Password: values["password"], From: values["from"]}, nil
}

// Send delivers one plain-text mail: connect, STARTTLS (required, verified), authenticate with auth
// (LoginAuth for ACS), MAIL FROM the Secret's sender, one recipient, DATA.
func Send(settings Settings, auth smtp.Auth, to, subject string) error {
	if strings.ContainsAny(to+subject, "\r\n") {
		return errors.New("the recipient and the subject must be one line each")
	}
	address := net.JoinHostPort(settings.Host, strconv.Itoa(settings.Port))
	conn, err := net.DialTimeout("tcp", address, 30*time.Second)
	if err != nil {
		return err
	}
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		conn.Close()
		return err
	}
	client, err := smtp.NewClient(conn, settings.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer client.Close()
	if ok, _ := client.Extension("STARTTLS"); !ok {
		return errors.New("the server does not offer STARTTLS")
	}
	// ServerName: the certificate must name the host (an IP address is checked against its IP SANs).
	if err := client.StartTLS(&tls.Config{ServerName: settings.Host, MinVersion: tls.VersionTLS12}); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if err := client.Auth(auth); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	if err := client.Mail(settings.From); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := client.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	data, err := client.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	message := strings.Join([]string{
		"From: " + settings.From,
		"To: " + to,
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Date: " + time.Now().Format(time.RFC1123Z),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
		"",
		"Sent by the Go (net/smtp + LOGIN) example with the acs-smtp-operator Secret.",
		"",
	}, "\r\n")
	if _, err := data.Write([]byte(message)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := data.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return client.Quit()
}

func run(args []string) int {
	to, subject := os.Getenv("MAIL_TO"), os.Getenv("MAIL_SUBJECT")
	if len(args) > 1 {
		to = args[1]
	}
	if len(args) > 2 {
		subject = args[2]
	}
	if to == "" || subject == "" {
		fmt.Fprintln(os.Stderr, "usage: send RECIPIENT SUBJECT (or MAIL_TO and MAIL_SUBJECT)")
		return 2
	}
	settings, err := LoadSettings(os.LookupEnv)
	if err == nil {
		err = Send(settings, LoginAuth(settings.Username, settings.Password, settings.Host), to, subject)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "send failed: "+strings.Join(strings.Fields(err.Error()), " "))
		return 1
	}
	fmt.Printf("sent to %s from %s through %s:%d\n", to, settings.From, settings.Host, settings.Port)
	return 0
}

func main() {
	os.Exit(run(os.Args))
}
