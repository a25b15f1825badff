<?php
// phpmailer.php PORT FROM TO - one message through PHPMailer in SMTP
// mode, as a PHP backend sends it (Debian's libphp-phpmailer).
require '/usr/share/php/libphp-phpmailer/autoload.php';

use PHPMailer\PHPMailer\PHPMailer;

$m = new PHPMailer(true);
$m->isSMTP();
$m->Host = '127.0.0.1';
$m->Port = (int)$argv[1];
$m->SMTPAuth = false;
$m->SMTPAutoTLS = false;
$m->CharSet = PHPMailer::CHARSET_UTF8;
$m->setFrom($argv[2], 'Web Shop');
$m->addAddress($argv[3]);
$m->Subject = 'Your order, déjà';
$m->isHTML(true);
$m->Body = "<p>Thank you.</p>\n<p>.a line with a leading dot</p>\n";
$m->AltBody = "Thank you.\n.a line with a leading dot\n";
$m->send();
echo PHPMailer::VERSION, "\n";
