import Foundation
import Testing
@testable import FluxSecurity

@Suite struct SanitizeTests {
    @Test func htmlTextAndAttributeEscaping() {
        #expect(Sanitize.htmlText(#"<img src=x onerror="a('b')">&"#) == "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;")
        #expect(Sanitize.htmlAttribute(#"x" onmouseover=alert(1) y="#) == "x&#x22;&#x20;onmouseover&#x3D;alert&#x28;1&#x29;&#x20;y&#x3D;")
        #expect(Sanitize.htmlText("café 東京") == "café 東京")
        // Escapes next to multi-byte characters: the bytes around them are copied whole.
        #expect(Sanitize.htmlText("é<東>'😀\"&\u{0}") == "é&lt;東&gt;&#39;😀&quot;&amp;\u{0}")
        #expect(Sanitize.htmlText("") == "")
    }

    @Test func javaScriptStringCannotCloseTheScript() {
        let escaped = Sanitize.javaScriptString("</script><script>alert('x')</script>\u{2028}")
        #expect(!escaped.contains("<") && !escaped.contains("'") && !escaped.contains("\u{2028}"))
    }

    @Test func csvCellsCannotBeFormulas() {
        #expect(Sanitize.csvCell("=HYPERLINK(\"http://evil\")") == "\"'=HYPERLINK(\"\"http://evil\"\")\"")
        #expect(Sanitize.csvCell("+1") == "'+1")
        #expect(Sanitize.csvCell("@SUM(A1)") == "'@SUM(A1)")
        #expect(Sanitize.csvCell("plain") == "plain")
        #expect(Sanitize.csvCell("a,b") == "\"a,b\"")
    }

    /// A line break anywhere in a cell, CRLF included (one Character in Swift), must be quoted, or a CSV reader
    /// starts a new row there.
    @Test(arguments: ["\r", "\n", "\r\n"])
    func csvCellsWithALineBreakInAnyPositionAreQuoted(lineBreak: String) {
        for text in [lineBreak, lineBreak + "a", "a" + lineBreak, "a" + lineBreak + "b", lineBreak + lineBreak, "=" + lineBreak] {
            let cell = Sanitize.csvCell(text)
            let body = Array(text.unicodeScalars)
            let quoted = Array(cell.unicodeScalars)
            #expect(quoted.first == "\"" && quoted.last == "\"", "\(text.debugDescription) gave \(cell.debugDescription)")
            let inner = Array(quoted.dropFirst().dropLast())
            #expect(inner == body || inner == ["'"] + body, "\(text.debugDescription) gave \(cell.debugDescription)")
        }
    }

    /// A combining mark joins the quote or comma before it into one Character; the scalars still matter to CSV.
    @Test func csvCellsAreJudgedByScalarNotCharacter() {
        #expect(Sanitize.csvCell("a\"\u{301}b") == "\"a\"\"\u{301}b\"")
        #expect(Sanitize.csvCell("a,\u{301}b") == "\"a,\u{301}b\"")
        #expect(Sanitize.csvCell("\r\n=cmd") == "\"'\r\n=cmd\"")
    }

    @Test(arguments: [
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
        "java\nscript:alert(1)", "&#106;avascript:alert(1)", "&#x6A;avascript:alert(1)", "javascript&colon;alert(1)",
        "%6Aavascript:alert(1)", "data:text/html,<script>", "vbscript:msgbox", "file:///etc/passwd", "//evil.example",
        "/relative", "http:/missing-slash", "https://", "mailto", "\u{0}javascript:alert(1)",
    ])
    func dangerousOrMalformedURLsAreRefused(url: String) {
        #expect(Sanitize.url(url) == nil)
    }

    @Test func safeURLsPass() {
        #expect(Sanitize.url("https://example.com/a?b=c#d") == "https://example.com/a?b=c#d")
        #expect(Sanitize.url("HTTP://Example.com") != nil)
        #expect(Sanitize.url("mailto:sales@example.com") == "mailto:sales@example.com")
    }

    @Test func redirectsStayOnSite() {
        let origin = URL(string: "https://www.example.com")!
        #expect(Sanitize.redirectTarget("/dashboard?tab=1") == "/dashboard?tab=1")
        #expect(Sanitize.redirectTarget("https://www.example.com/portal", origin: origin) == "/portal")
        for hostile in ["//evil.example", "/\\evil.example", "https://evil.example/", "https://www.example.com.evil.example/",
                        "javascript:alert(1)", "http://www.example.com/", "\\\\evil.example", "/\t/evil.example"] {
            #expect(Sanitize.redirectTarget(hostile, origin: origin) == nil, "\(hostile)")
        }
    }

    @Test func filenamesCannotTraverseOrHide() {
        #expect(Sanitize.filename("../../etc/passwd") == "passwd")
        #expect(Sanitize.filename("..\\..\\boot.ini") == "boot.ini")
        #expect(Sanitize.filename(".htaccess") == "htaccess")
        #expect(Sanitize.filename("CON.txt") == "_CON.txt")
        #expect(Sanitize.filename("a\u{0}b\nc<d>.png") == "abc_d_.png")
        #expect(Sanitize.filename("") == "file")
        #expect(Sanitize.filename("...") == "file")
        let long = Sanitize.filename(String(repeating: "é", count: 300) + ".pdf")
        #expect(long.utf8.count <= 200 && long.hasSuffix(".pdf"))
    }

    @Test func emailsFollowRFC5321Shape() {
        #expect(Sanitize.email("  Ada.Lovelace+flux@Example.COM ") == "Ada.Lovelace+flux@example.com")
        for bad in ["plainaddress", "@example.com", "a@b", "a..b@example.com", ".a@example.com", "a@-example.com",
                    "a@example..com", "a b@example.com", "a@example.com\r\nBcc: x@y.z",
                    String(repeating: "a", count: 65) + "@example.com", "a@" + String(repeating: "b", count: 250) + ".com",
                    "a@exa_mple.com", "a@123.456"] {
            #expect(Sanitize.email(bad) == nil, "\(bad)")
        }
    }

    @Test func phonesNormalizeToDigits() {
        #expect(Sanitize.phone("+39 (02) 1234-5678") == "+390212345678")
        #expect(Sanitize.phone("555.123.4567") == "5551234567")
        for bad in ["12345", "+1234567890123456", "call me", "555-1234 ext 9", "1+2345678"] {
            #expect(Sanitize.phone(bad) == nil, "\(bad)")
        }
    }

    @Test func searchLikeHeaderSlugIdentifier() {
        #expect(Sanitize.searchQuery("  heat   <b>pump</b>\u{0}  ") == "heat bpump/b")
        #expect(Sanitize.likePattern("50%_off\\") == "50\\%\\_off\\\\")
        #expect(Sanitize.headerValue("ok\r\nSet-Cookie: evil=1") == "okSet-Cookie: evil=1")
        #expect(Sanitize.slug("Ça marche: Textile Drying — 2026!") == "ca-marche-textile-drying-2026")
        #expect(Sanitize.slug("!!!") == nil)
        #expect(Sanitize.identifier("tenant_42-a") == "tenant_42-a")
        for bad in ["42tenant", "a b", "ünï", "", String(repeating: "a", count: 65), "a;drop"] {
            #expect(Sanitize.identifier(bad) == nil, "\(bad)")
        }
    }

    @Test func jsonIsBoundedAndCleaned() throws {
        let cleaned = try Sanitize.json(Data(#"{"__proto__":{"admin":true},"name":"a\u0000b","list":[1,{"constructor":1,"ok":"yes"}]}"#.utf8))
        #expect(String(decoding: cleaned, as: UTF8.self) == #"{"list":[1,{"ok":"yes"}],"name":"ab"}"#)
        let deep = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        #expect(throws: Sanitize.JSONRejection.tooDeep) { try Sanitize.json(Data(deep.utf8)) }
        #expect(throws: Sanitize.JSONRejection.malformed) { try Sanitize.json(Data("{nope".utf8)) }
        #expect(throws: Sanitize.JSONRejection.tooLarge) { try Sanitize.json(Data(repeating: 0x20, count: 70_000)) }
        let wide = "[" + Array(repeating: "1", count: 2_000).joined(separator: ",") + "]"
        #expect(throws: Sanitize.JSONRejection.tooManyElements) { try Sanitize.json(Data(wide.utf8)) }
    }
}
