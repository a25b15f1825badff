// netsmtp.go PORT FROM TO - one message through Go's net/smtp, as a Go
// backend sends it (smtp.SendMail).
package main

import (
	"fmt"
	"net/smtp"
	"os"
	"runtime"
)

func main() {
	port, from, to := os.Args[1], os.Args[2], os.Args[3]
	msg := "From: " + from + "\r\nTo: " + to + "\r\n" +
		"Subject: Your order\r\n\r\n" +
		"Thank you.\r\n.a line with a leading dot\r\n"
	if err := smtp.SendMail("127.0.0.1:"+port, nil, from, []string{to},
		[]byte(msg)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(runtime.Version())
}
