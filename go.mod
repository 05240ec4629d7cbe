module github.com/kcrash/kcrash

go 1.26

require (
	github.com/anchore/go-lzo v0.1.1
	github.com/klauspost/compress v1.20.3
)
