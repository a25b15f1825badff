// nodemailer.js MODULES PORT FROM TO - one message through nodemailer's
// SMTP transport, as a node backend sends it, with an inline image.
const nodemailer = require(process.argv[2] + '/nodemailer');
const [port, from, to] = process.argv.slice(3);

const t = nodemailer.createTransport({
	host: '127.0.0.1', port: Number(port), secure: false,
	ignoreTLS: true,
});
t.sendMail({
	from, to,
	subject: 'Your order, déjà',
	text: 'Thank you.\n.a line with a leading dot\n',
	html: '<p>Thank you.</p><img src="cid:logo@shop">',
	attachments: [{ filename: 'logo.txt', content: 'logo', cid: 'logo@shop' }],
}).then(() => {
	console.log(require(process.argv[2] + '/nodemailer/package.json').version);
}, (e) => { console.error(e); process.exit(1); });
