module acssmtp.io/examples/send

go 1.22
