#!/usr/bin/env python3
"""Send one plain-text mail with the SMTP Secret the acs-smtp-operator writes (standard library only).

    python3 send.py RECIPIENT SUBJECT        (or MAIL_TO=... MAIL_SUBJECT=... python3 send.py)

Settings, as a pod gets them:
  * SMTP_CONFIG_DIR set: the files `host`, `port`, `username`, `password`, `from` in that directory
    (the Secret mounted as a volume). They are read at every send, so a rotated password is picked up
    without a restart.
  * otherwise: SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM (env[].valueFrom.secretKeyRef).

STARTTLS is required (the server's certificate is verified against the system trust; SSL_CERT_FILE
points it elsewhere), then AUTH LOGIN, the only mechanism Azure Communication Services accepts.
Exit 0 once the server accepted the mail; otherwise one line on stderr and exit 1. The password is
never printed.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

# The Secret's key (a file name under SMTP_CONFIG_DIR) and the environment variable of each setting.
FIELDS = {
    "host": "SMTP_HOST",
    "port": "SMTP_PORT",
    "username": "SMTP_USERNAME",
    "password": "SMTP_PASSWORD",
    "from": "SMTP_FROM",
}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    username: str
    password: str
    sender: str

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"Settings(host={self.host!r}, port={self.port}, username={self.username!r}, sender={self.sender!r})"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """The Secret's values: from the files in SMTP_CONFIG_DIR when it is set, else from SMTP_* variables."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, str] = {}
    directory = env.get("SMTP_CONFIG_DIR")
    for key, variable in FIELDS.items():
        if directory:
            path = Path(directory) / key
            try:
                values[key] = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        elif variable in env:
            values[key] = env[variable]
        else:
            raise ConfigError(f"{variable} is not set (nor SMTP_CONFIG_DIR)")
        if not values[key]:
            raise ConfigError(f"{key} is empty")
    try:
        port = int(values["port"])
    except ValueError:
        raise ConfigError(f"port is not a number: {values['port']!r}") from None
    return Settings(values["host"], port, values["username"], values["password"], values["from"])


def send(settings: Settings, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, to, subject
    message["Date"], message["Message-ID"] = formatdate(localtime=True), make_msgid()
    message.set_content("Sent by the Python (smtplib) example with the acs-smtp-operator Secret.\n")
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as client:
        client.ehlo()
        if not client.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
        client.starttls(context=ssl.create_default_context())  # verifies the certificate and the host name
        client.ehlo()
        if not (settings.username.isascii() and settings.password.isascii()):  # smtplib's error would quote it
            raise ConfigError("the username or the password is not ASCII")
        # smtplib picks AUTH LOGIN when it is what the server offers (ACS offers nothing else).
        client.login(settings.username, settings.password)
        client.send_message(message)


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{to}: {code} {text.decode(errors='replace')}" for to, (code, text) in exc.recipients.items())
    if isinstance(exc, UnicodeError):  # its text quotes the character it could not encode
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str]) -> int:
    to = argv[1] if len(argv) > 1 else os.environ.get("MAIL_TO", "")
    subject = argv[2] if len(argv) > 2 else os.environ.get("MAIL_SUBJECT", "")
    if not to or not subject:
        print("usage: send.py RECIPIENT SUBJECT (or MAIL_TO and MAIL_SUBJECT)", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        send(settings, to, subject)
    except (ConfigError, smtplib.SMTPException, OSError, ValueError) as exc:
        print("send failed: " + " ".join(describe(exc).split()), file=sys.stderr)
        return 1
    print(f"sent to {to} from {settings.sender} through {settings.host}:{settings.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
