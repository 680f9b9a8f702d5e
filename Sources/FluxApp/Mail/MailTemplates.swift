import FluxSecurity
import Foundation

/// Every message Flux sends, each with a plain-text part and an HTML part in which every interpolated value
/// is escaped (links as attributes and as text), so nothing a user typed becomes markup in a mail client.
enum MailTemplates {
    static func verifyEmail(to: MailAddress, link: URL) -> MailMessage {
        message(to: to, subject: "Confirm your email address for Flux",
                lines: ["Confirm that this address is yours by opening the link below. It works once, for 60 minutes."],
                link: link, linkLabel: "Confirm my email address",
                footer: "If you did not create a Flux account, ignore this message.")
    }

    static func accountExists(to: MailAddress, resetLink: URL) -> MailMessage {
        message(to: to, subject: "Someone tried to register with your email on Flux",
                lines: ["Somebody, perhaps you, tried to create a Flux account with this address, which already has one.",
                        "If you forgot your password, you can choose a new one:"],
                link: resetLink, linkLabel: "Reset my password",
                footer: "If it was not you, nothing has changed and you can ignore this message.")
    }

    static func passwordReset(to: MailAddress, link: URL) -> MailMessage {
        message(to: to, subject: "Reset your Flux password",
                lines: ["Choose a new password with the link below. It works once, for 60 minutes, and signs you out everywhere."],
                link: link, linkLabel: "Choose a new password",
                footer: "If you did not ask for this, ignore this message: your password has not changed.")
    }

    private static func message(to: MailAddress, subject: String, lines: [String], link: URL, linkLabel: String,
                                footer: String) -> MailMessage {
        let greeting = "Hello\(to.name.map { " " + $0 } ?? ""),"
        let text = ([greeting, ""] + lines + ["", link.absoluteString, "", footer]).joined(separator: "\n")
        let paragraphs = lines.map { "<p>\(Sanitize.htmlText($0))</p>" }.joined()
        let html = """
            <!doctype html><html><body style="font-family: sans-serif">\
            <p>\(Sanitize.htmlText(greeting))</p>\(paragraphs)\
            <p><a href="\(Sanitize.htmlAttribute(link.absoluteString))">\(Sanitize.htmlText(linkLabel))</a></p>\
            <p style="color: #666">\(Sanitize.htmlText(footer))</p></body></html>
            """
        return MailMessage(to: to, subject: subject, text: text, html: html)
    }
}
