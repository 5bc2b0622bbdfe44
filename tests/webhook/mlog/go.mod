module monis.app/mlog

go 1.23

require github.com/go-logr/logr v1.4.2
