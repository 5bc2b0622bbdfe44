#!/usr/bin/env node
// Send one plain-text mail with the SMTP Secret the acs-smtp-operator writes (nodemailer).
//
//   node send.js RECIPIENT SUBJECT        (or MAIL_TO=... MAIL_SUBJECT=... node send.js)
//
// Settings, as a pod gets them:
//   * SMTP_CONFIG_DIR set: the files host, port, username, password, from in that directory (the Secret
//     mounted as a volume). They are read at every send, so a rotated password is picked up without a restart.
//   * otherwise: SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM (env[].valueFrom.secretKeyRef).
//
// STARTTLS is required (requireTLS: the certificate is verified against Node's trust; NODE_EXTRA_CA_CERTS
// adds a CA), then AUTH LOGIN, the only mechanism Azure Communication Services accepts. Exit 0 once the
// server accepted the mail; otherwise one line on stderr and exit 1. The password is never printed.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const nodemailer = require('nodemailer');

// The Secret's key (a file name under SMTP_CONFIG_DIR) and the environment variable of each setting.
const FIELDS = {
    host: 'SMTP_HOST',
    port: 'SMTP_PORT',
    username: 'SMTP_USERNAME',
    password: 'SMTP_PASSWORD',
    from: 'SMTP_FROM'
};

function loadSettings(env = process.env) {
    const values = {};
    const dir = env.SMTP_CONFIG_DIR;
    for (const [key, variable] of Object.entries(FIELDS)) {
        if (dir) {
            const file = path.join(dir, key);
            try {
                values[key] = fs.readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
            } catch (err) {
                throw new Error(`cannot read ${file}: ${err.code || err.message}`);
            }
        } else if (env[variable] !== undefined) {
            values[key] = env[variable];
        } else {
            throw new Error(`${variable} is not set (nor SMTP_CONFIG_DIR)`);
        }
        if (!values[key]) {
            throw new Error(`${key} is empty`);
        }
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port <= 0) {
        throw new Error(`port is not a number: ${JSON.stringify(values.port)}`);
    }
    return { host: values.host, port, username: values.username, password: values.password, from: values.from };
}

async function send(settings, to, subject) {
    const transporter = nodemailer.createTransport({
        host: settings.host,
        port: settings.port,
        secure: false, // port 587: plain connect, then STARTTLS...
        requireTLS: true, // ...which is required: never authenticate or send without it
        authMethod: 'LOGIN', // ACS offers AUTH LOGIN only
        auth: { user: settings.username, pass: settings.password },
        tls: { minVersion: 'TLSv1.2' }, // rejectUnauthorized stays true: the certificate is verified
        connectionTimeout: 30000,
        greetingTimeout: 30000,
        socketTimeout: 30000,
        logger: false
    });
    try {
        await transporter.sendMail({
            from: settings.from,
            to,
            subject,
            text: 'Sent by the Node.js (nodemailer) example with the acs-smtp-operator Secret.\n'
        });
    } finally {
        transporter.close();
    }
}

async function main(argv) {
    const to = argv[2] || process.env.MAIL_TO || '';
    const subject = argv[3] || process.env.MAIL_SUBJECT || '';
    if (!to || !subject) {
        console.error('usage: node send.js RECIPIENT SUBJECT (or MAIL_TO and MAIL_SUBJECT)');
        return 2;
    }
    let settings;
    try {
        settings = loadSettings();
        await send(settings, to, subject);
    } catch (err) {
        const text = err && err.message ? err.message : String(err);
        console.error('send failed: ' + text.split(/\s+/).join(' ').trim());
        return 1;
    }
    console.log(`sent to ${to} from ${settings.from} through ${settings.host}:${settings.port}`);
    return 0;
}

module.exports = { loadSettings, send };

if (require.main === module) {
    main(process.argv).then(code => {
        process.exitCode = code;
    });
}
