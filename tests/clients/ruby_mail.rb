# ruby_mail.rb PORT FROM TO - one message through Ruby's mail gem with
# delivery_method :smtp, as Rails' ActionMailer sends it: an HTML part
# that shows an inline image by its Content-ID.
require 'mail'

port, from, to = ARGV
m = Mail.new
m.from = from
m.to = to
m.subject = 'Your order, déjà'
m.attachments.inline['logo.png'] = { content: "\x89PNG\r\n\x1a\nlogo", mime_type: 'image/png' }
url = m.attachments['logo.png'].url
m.text_part = Mail::Part.new { body "Thank you.\n.a line with a leading dot\n" }
m.html_part = Mail::Part.new do
	content_type 'text/html; charset=UTF-8'
	body "<p>Thank you.</p><img src=\"#{url}\">\n"
end
m.delivery_method :smtp, address: '127.0.0.1', port: port.to_i,
	enable_starttls_auto: false
m.deliver!
puts Mail::VERSION.version
