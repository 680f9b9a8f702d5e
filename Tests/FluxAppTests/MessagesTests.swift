@testable import FluxApp
import Foundation
import Testing

/// The message catalogue: every locale says everything English says, with the same placeholders, and a request's
/// language is the one it asked for, then remembered, then preferred.
@Suite struct MessagesTests {
    static func placeholders(_ text: String) -> Set<String> {
        Set(text.matches(of: /\{[0-9]+\}/).map { String($0.output) })
    }

    @Test func everyLocaleHasEveryEnglishKeyWithItsPlaceholders() throws {
        let english = try #require(Messages.shared.catalogues["en"])
        #expect(english.count > 0)
        for locale in Messages.locales where locale != "en" {
            let catalogue = try #require(Messages.shared.catalogues[locale], "\(locale).json is missing or malformed")
            #expect(Set(catalogue.keys) == Set(english.keys), "\(locale) differs from en")
            for (key, text) in english {
                #expect(Self.placeholders(catalogue[key] ?? "") == Self.placeholders(text), "\(locale): \(key)")
            }
        }
    }

    @Test func textFallsBackToEnglishAndFillsPlaceholders() {
        let messages = Messages(files: [
            "Resources/Locales/en.json": #"{"greet": "Hello {0}, you have {1} files", "only": "English only"}"#,
            "Resources/Locales/it.json": #"{"greet": "{1} file per te, {0}"}"#,
        ])
        #expect(messages.text("greet", locale: "it", ["Ada", "3"]) == "3 file per te, Ada")
        #expect(messages.text("only", locale: "it") == "English only")
        #expect(messages.text("missing", locale: "it") == "missing")
    }

    @Test func acceptLanguageIsRankedByQuality() {
        #expect(Messages.preferred(acceptLanguage: "fr-CH, fr;q=0.9, en;q=0.8") == "fr")
        #expect(Messages.preferred(acceptLanguage: "ja, de;q=0.5, it;q=0.7") == "it")
        #expect(Messages.preferred(acceptLanguage: "es;q=0, en") == "en")
        #expect(Messages.preferred(acceptLanguage: "ja, zh") == nil)
        #expect(Messages.preferred(acceptLanguage: "") == nil)
    }
}
