import Foundation
import Testing
@testable import FluxSecurity

/// The rich-text sanitizer against a public XSS vector list and, differentially, against nh3 (Rust's
/// ammonia) under the same policy; an HTML parser judges both outputs.
@Suite struct RichTextDifferentialTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func vectors() throws -> [String] {
        let text = try String(contentsOf: fixtures.appendingPathComponent("xss-vectors.txt"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("# ") }.map {
            $0.replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\\n", with: "\n")
                .replacingOccurrences(of: "\\r", with: "\r").replacingOccurrences(of: "\\0", with: "\u{0}")
        }
    }

    static let benign = [
        "<p>Hello <b>world</b></p>",
        "<ul><li>one</li><li>two</li></ul>",
        "<ol><li>first</li></ol>",
        #"<a href="https://example.com/path?q=1">a link</a>"#,
        #"<a href="mailto:sales@example.com">mail us</a>"#,
        "<blockquote>a quote</blockquote>",
        "<pre><code>x &lt; y &amp;&amp; y &gt; z</code></pre>",
        "Plain text with &amp; and &lt;tags&gt; written out",
        "<p>line one<br>line two</p>",
        "<em>e</em> <i>i</i> <strong>s</strong> <code>c</code>",
        "<p>Unicode: café, 東京, emoji 🙂</p>",
    ]

    struct Verdict: Decodable {
        let nh3: [String]
        let unsafe_ours: [Int]
        let unsafe_nh3: [Int]
        let benign_mismatch: [Int]
        let controls_caught: [Bool]
    }

    /// Outputs the inspector must flag.
    static let controls = [
        #"<a href="javascript:alert(1)">x</a>"#, #"<a href=" JaVa&#x0A;script:alert(1)">x</a>"#, "<img src=x>",
        #"<p onclick="x()">x</p>"#, "<script>alert(1)</script>", "<!-- c -->", #"<a href="data:text/html,x">x</a>"#,
    ]

    @Test func noOutputCarriesAnExecutableVectorAndBenignMarkupMatchesTheReference() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count >= 120)
        let inputs = vectors + Self.benign
        let ours = inputs.map { Sanitize.richText($0) }
        let request = try JSONSerialization.data(withJSONObject: [
            "inputs": inputs, "ours": ours, "benign": Array(vectors.count..<inputs.count), "controls": Self.controls,
        ])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.fixtures.appendingPathComponent("reference_sanitizer.py").path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(request)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "the reference needs nh3: pip install -r Tests/integration/requirements.txt")
        let verdict = try JSONDecoder().decode(Verdict.self, from: data)

        #expect(verdict.controls_caught == Array(repeating: true, count: Self.controls.count))
        #expect(verdict.unsafe_nh3.isEmpty, "the inspector flags the reference itself: \(verdict.unsafe_nh3.map { verdict.nh3[$0] })")
        for index in verdict.unsafe_ours {
            Issue.record("executable vector survived: \(inputs[index]) -> \(ours[index])")
        }
        for index in verdict.benign_mismatch {
            Issue.record("benign markup differs: \(inputs[index]) -> ours \(ours[index]), nh3 \(verdict.nh3[index])")
        }
    }

    @Test func typicalCases() {
        #expect(Sanitize.richText("<p onclick=alert(1)>Hi <script>alert(1)</script>there</p>") == "<p>Hi there</p>")
        #expect(Sanitize.richText(#"<a href="javascript:alert(1)">x</a>"#) == #"<a rel="noopener noreferrer">x</a>"#)
        #expect(Sanitize.richText(#"<a href="https://e.com">x</a>"#) == #"<a href="https://e.com" rel="noopener noreferrer">x</a>"#)
        #expect(Sanitize.richText("<div><b>unclosed") == "<b>unclosed</b>")
        #expect(Sanitize.richText("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2")
        #expect(Sanitize.richText("<b>bold</i></b>") == "<b>bold</b>")
    }

    @Test func plainTextAndCommentDropAllMarkup() {
        #expect(Sanitize.plainText("<p>Hello <b>you</b></p><script>steal()</script>&amp; more") == "Hello you& more")
        #expect(Sanitize.comment("  <i>great</i>\n\n\n\n\nservice\u{7}  ") == "great\n\nservice")
        #expect(Sanitize.comment(String(repeating: "a", count: 6000)).count == 5000)
    }
}
