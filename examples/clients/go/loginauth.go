package main

import (
	"errors"
	"fmt"
	"net/smtp"
	"strings"
)

// LoginAuth returns an smtp.Auth that implements the AUTH LOGIN mechanism, the only one Azure
// Communication Services accepts. The standard library offers PLAIN (smtp.PlainAuth) and CRAM-MD5
// (smtp.CRAMMD5Auth), which ACS refuses (504), and no LOGIN.
//
// Like smtp.PlainAuth it only sends the credentials once the connection is TLS (after StartTLS) and
// to the host it was made for; unlike PlainAuth it makes no exception for localhost. It also refuses
// a server that does not offer LOGIN, so the failure names the cause.
//
// The exchange (draft-murchison-sasl-login): the client sends "AUTH LOGIN", the server challenges
// "Username:" and then "Password:" (base64, decoded by net/smtp), the client answers each with the
// value (net/smtp encodes it).
func LoginAuth(username, password, host string) smtp.Auth {
	return &loginAuth{username: username, password: password, host: host}
}

type loginAuth struct {
	username, password, host string
	step                     int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errors.New("loginauth: refusing to send credentials over an unencrypted connection (StartTLS first)")
	}
	if server.Name != a.host {
		return "", nil, fmt.Errorf("loginauth: connected to %q, credentials are for %q", server.Name, a.host)
	}
	offered := false
	for _, mechanism := range server.Auth {
		if strings.EqualFold(mechanism, "LOGIN") {
			offered = true
		}
	}
	if !offered {
		return "", nil, fmt.Errorf("loginauth: the server does not offer AUTH LOGIN (it offers %q)", strings.Join(server.Auth, " "))
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.username), nil
	case 2:
		return []byte(a.password), nil
	default:
		return nil, fmt.Errorf("loginauth: unexpected server challenge %q after the password", fromServer)
	}
}
