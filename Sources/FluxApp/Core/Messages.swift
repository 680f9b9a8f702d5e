import Foundation
import LeafKit
import Vapor

/// The words a visitor or client reads, per locale, from `Resources/Locales/<locale>.json` (a flat object of keys
/// to text), compiled in with the templates. English is complete by rule (a test checks every other locale has the
/// same keys and placeholders); a key missing from a locale falls back to English rather than printing the key.
/// Placeholders are `{0}`, `{1}`, … filled in order, so a translation may reorder them.
struct Messages: Sendable {
    static let locales = ["en", "it", "es", "fr", "de"]
    static let fallback = "en"
    /// The cookie a visitor's language choice (`?lang=`) is remembered in.
    static let cookie = "lang"

    static let shared = Messages(files: embeddedResources)

    let catalogues: [String: [String: String]]

    init(files: [String: String]) {
        var catalogues: [String: [String: String]] = [:]
        for locale in Self.locales {
            guard let text = files["Resources/Locales/\(locale).json"] else { continue }
            // The files are compiled in and checked by MessagesTests: a malformed one cannot ship.
            catalogues[locale] = (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
        }
        self.catalogues = catalogues
    }

    /// The text of `key` in `locale` (or English), its placeholders filled with `arguments`.
    func text(_ key: String, locale: String, _ arguments: [String] = []) -> String {
        var text = catalogues[locale]?[key] ?? catalogues[Self.fallback]?[key] ?? key
        for (index, argument) in arguments.enumerated() {
            text = text.replacingOccurrences(of: "{\(index)}", with: argument)
        }
        return text
    }

    /// The request's locale: an explicit `?lang=`, then the remembered choice, then the browser's preference
    /// (`Accept-Language`, by quality), then English.
    static func locale(for request: Request) -> String {
        if let asked = request.query[String.self, at: "lang"], locales.contains(asked) { return asked }
        if let chosen = request.cookies[cookie]?.string, locales.contains(chosen) { return chosen }
        return preferred(acceptLanguage: request.headers.first(name: .acceptLanguage) ?? "") ?? fallback
    }

    /// The best supported language of an `Accept-Language` value (`fr-CH, fr;q=0.9, en;q=0.8`), by its quality
    /// values; `nil` when none is supported.
    static func preferred(acceptLanguage: String) -> String? {
        let ranked = acceptLanguage.split(separator: ",").enumerated().compactMap { position, item -> (String, Double, Int)? in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let range = parts.first, !range.isEmpty else { return nil }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let language = range.split(separator: "-").first.map { $0.lowercased() } ?? ""
            return (language, quality, position)
        }
        return ranked.filter { $0.1 > 0 && locales.contains($0.0) }
            .sorted { ($0.1, -$0.2) > ($1.1, -$1.2) }.first?.0
    }

    /// Remembers a `?lang=` choice on `response`, so the next page speaks it too.
    static func remember(_ request: Request, on response: Response) {
        guard let asked = request.query[String.self, at: "lang"], locales.contains(asked) else { return }
        response.cookies[cookie] = HTTPCookies.Value(string: asked, maxAge: 365 * 24 * 3600, path: "/", isHTTPOnly: true,
                                                     sameSite: .lax)
    }
}

/// `#t("key")` or `#t("key", argument, …)`: the text of `key` in the page's `locale` (a field every page's context
/// has), escaped like any other printed value.
struct MessageTag: LeafTag {
    struct Malformed: Error {}

    func render(_ ctx: LeafContext) throws -> LeafData {
        guard let key = ctx.parameters.first?.string else { throw Malformed() }
        let locale = ctx.data["locale"]?.string ?? Messages.fallback
        let arguments = ctx.parameters.dropFirst().map { $0.string ?? "" }
        return .string(Messages.shared.text(key, locale: locale, Array(arguments)))
    }
}
