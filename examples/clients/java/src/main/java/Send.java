// Send one plain-text mail with the SMTP Secret the acs-smtp-operator writes (Jakarta Mail, Angus Mail).
//
//   java -cp 'lib/*' src/main/java/Send.java RECIPIENT SUBJECT   (or MAIL_TO=... MAIL_SUBJECT=...)
//
// Settings, as a pod gets them:
//   * SMTP_CONFIG_DIR set: the files host, port, username, password, from in that directory (the Secret
//     mounted as a volume). They are read at every send, so a rotated password is picked up without a restart.
//   * otherwise: SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM (env[].valueFrom.secretKeyRef).
//
// STARTTLS is required (mail.smtp.starttls.required; the certificate and the host name are verified against
// the JVM's trust store: -Djavax.net.ssl.trustStore=... for another CA), then AUTH LOGIN, the only mechanism
// Azure Communication Services accepts. Exit 0 once the server accepted the mail; otherwise one line on
// stderr and exit 1. The password is never printed.

import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

public final class Send {

    /** The Secret's values. toString leaves the password out. */
    record Settings(String host, int port, String username, String password, String from) {
        @Override
        public String toString() {
            return "Settings[host=" + host + ", port=" + port + ", username=" + username + ", from=" + from + "]";
        }
    }

    static final class ConfigException extends Exception {
        ConfigException(String message) {
            super(message);
        }
    }

    /** The Secret's key (a file name under SMTP_CONFIG_DIR) and the environment variable of each setting. */
    static final Map<String, String> FIELDS = new LinkedHashMap<>();

    static {
        FIELDS.put("host", "SMTP_HOST");
        FIELDS.put("port", "SMTP_PORT");
        FIELDS.put("username", "SMTP_USERNAME");
        FIELDS.put("password", "SMTP_PASSWORD");
        FIELDS.put("from", "SMTP_FROM");
    }

    static Settings loadSettings(Map<String, String> env) throws ConfigException {
        Map<String, String> values = new LinkedHashMap<>();
        String dir = env.get("SMTP_CONFIG_DIR");
        for (Map.Entry<String, String> field : FIELDS.entrySet()) {
            String key = field.getKey();
            String value;
            if (dir != null && !dir.isEmpty()) {
                Path file = Path.of(dir, key);
                try {
                    value = Files.readString(file, StandardCharsets.UTF_8).replaceAll("[\\r\\n]+$", "");
                } catch (IOException e) {
                    throw new ConfigException("cannot read " + file + ": " + e.getClass().getSimpleName());
                }
            } else {
                value = env.get(field.getValue());
                if (value == null) {
                    throw new ConfigException(field.getValue() + " is not set (nor SMTP_CONFIG_DIR)");
                }
            }
            if (value.isEmpty()) {
                throw new ConfigException(key + " is empty");
            }
            values.put(key, value);
        }
        int port;
        try {
            port = Integer.parseInt(values.get("port"));
        } catch (NumberFormatException e) {
            throw new ConfigException("port is not a number: " + values.get("port"));
        }
        return new Settings(values.get("host"), port, values.get("username"), values.get("password"), values.get("from"));
    }

    static void send(Settings settings, String to, String subject) throws MessagingException {
        Properties props = new Properties();
        props.put("mail.transport.protocol", "smtp");
        props.put("mail.smtp.host", settings.host());
        props.put("mail.smtp.port", String.valueOf(settings.port()));
        props.put("mail.smtp.auth", "true");
        props.put("mail.smtp.auth.mechanisms", "LOGIN"); // ACS offers AUTH LOGIN only
        props.put("mail.smtp.starttls.enable", "true");
        props.put("mail.smtp.starttls.required", "true"); // never authenticate or send without TLS
        props.put("mail.smtp.ssl.checkserveridentity", "true"); // the certificate must name the host
        props.put("mail.smtp.ssl.protocols", "TLSv1.3 TLSv1.2");
        props.put("mail.smtp.from", settings.from()); // the envelope sender (MAIL FROM)
        props.put("mail.smtp.connectiontimeout", "30000");
        props.put("mail.smtp.timeout", "30000");
        props.put("mail.smtp.writetimeout", "30000");
        Session session = Session.getInstance(props);

        MimeMessage message = new MimeMessage(session);
        message.setFrom(new InternetAddress(settings.from(), true));
        message.setRecipients(Message.RecipientType.TO, InternetAddress.parse(to, true));
        message.setSubject(subject, "UTF-8");
        message.setSentDate(new Date());
        message.setText("Sent by the Java (Jakarta Mail) example with the acs-smtp-operator Secret.\n", "UTF-8");
        Transport.send(message, settings.username(), settings.password());
    }

    /** One line: the exception's message and its causes' (the server's reply, the TLS failure, ...). */
    static String describe(Throwable error) {
        List<String> parts = new ArrayList<>();
        for (Throwable t = error; t != null && parts.size() < 5; t = t.getCause()) {
            String text = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
            if (parts.isEmpty() || !parts.get(parts.size() - 1).contains(text)) {
                parts.add(text);
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return String.join(": ", parts).replaceAll("\\s+", " ").trim();
    }

    public static void main(String[] args) {
        String to = args.length > 0 ? args[0] : System.getenv().getOrDefault("MAIL_TO", "");
        String subject = args.length > 1 ? args[1] : System.getenv().getOrDefault("MAIL_SUBJECT", "");
        if (to.isEmpty() || subject.isEmpty()) {
            System.err.println("usage: java -cp 'lib/*' Send.java RECIPIENT SUBJECT (or MAIL_TO and MAIL_SUBJECT)");
            System.exit(2);
        }
        Settings settings;
        try {
            settings = loadSettings(System.getenv());
            send(settings, to, subject);
        } catch (ConfigException | MessagingException | RuntimeException e) {
            System.err.println("send failed: " + describe(e));
            System.exit(1);
            return;
        }
        System.out.println("sent to " + to + " from " + settings.from() + " through " + settings.host() + ":"
                + settings.port());
    }
}
