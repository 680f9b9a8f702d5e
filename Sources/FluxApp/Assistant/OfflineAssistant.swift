import Foundation

/// What the assistant knows of the conversation when it answers.
struct AssistantContext: Sendable {
    let locale: String
    let industry: String?
    let productionVolume: Double?
    /// Earlier messages, oldest first; loaded only for a provider that reads them (``LLMProvider/readsHistory``).
    var history: [HistoryMessage] = []
}

struct HistoryMessage: Sendable {
    enum Role: String, Sendable { case user, assistant }
    let role: Role
    let text: String
}

/// A tool the assistant used while answering, with what it returned.
struct ToolUse: Sendable {
    enum Name: String, Sendable, CaseIterable {
        case caseStudies = "case_studies", savingsCalculator = "energy_savings_calculator"
        case equipmentSpecs = "equipment_specs", consultationHandoff = "consultation_handoff"
    }

    let name: Name
    let arguments: [String: String]
    let result: String
    var estimatedSavingsPercent: Double?
    var productionVolume: Double?
}

/// One answer: the text, the tools behind it, which model gave it and what it cost in tokens.
struct AssistantTurn: Sendable {
    let text: String
    let tools: [ToolUse]
    let model: String
    let tokensIn: Int
    let tokensOut: Int
    let cachedTokens: Int
}

/// The model behind FluxAI: ``OpenAICompatibleProvider``, or ``OfflineAssistant``. `onText` receives the
/// answer as it is produced, for streaming to the browser; the returned turn holds the whole of it.
protocol LLMProvider: Sendable {
    var readsHistory: Bool { get }
    func reply(to message: String, context: AssistantContext, onText: @escaping @Sendable (String) async -> Void) async throws -> AssistantTurn
}

/// The assistant that needs no outside service (the default with no API key): deterministic, answering from
/// the company's case studies and equipment data with the same four ``AssistantTools`` an online model is given.
struct OfflineAssistant: LLMProvider {
    static let model = "offline"
    var readsHistory: Bool { false }

    func reply(to message: String, context: AssistantContext, onText: @escaping @Sendable (String) async -> Void) async throws -> AssistantTurn {
        let lower = message.lowercased()
        let industry = context.industry ?? IndustryDetector.detect(message)
        let known = AssistantContext(locale: context.locale, industry: industry, productionVolume: context.productionVolume)
        var chosen: [(ToolUse.Name, [String: String])] = []
        if Self.mentions(lower, ["case", "example", "reference", "caso", "esempi", "ejemplo", "exemple", "beispiel", "referenz"]) {
            chosen.append((.caseStudies, [:]))
        }
        let volume = Self.productionVolume(in: lower)
        if volume != nil || (Self.mentions(lower, Self.savingsWords) && context.productionVolume != nil) {
            chosen.append((.savingsCalculator, volume.map { ["productionVolume": String($0)] } ?? [:]))
        }
        if Self.mentions(lower, ["spec", "equipment", "machine", "power", "kw", "macchin", "máquina", "maquina", "maschine", "anlage"]) {
            chosen.append((.equipmentSpecs, [:]))
        }
        if Self.mentions(lower, ["consult", "contact", "call", "meeting", "engineer", "quote", "preventiv", "contatt", "consulta", "contacto",
                                 "rendez", "contacter", "beratung", "kontakt", "termin", "ingegner", "ingenier", "ingénieur", "ingenieur"]) {
            chosen.append((.consultationHandoff, [:]))
        }
        let tools = chosen.map { AssistantTools.run($0.0, arguments: $0.1, context: known) }
        let text = Self.compose(locale: context.locale, industry: industry, tools: tools)
        await onText(text)
        // The offline assistant has no tokenizer; four characters a token is the usual estimate.
        return AssistantTurn(text: text, tools: tools, model: Self.model, tokensIn: max(1, message.count / 4),
                             tokensOut: max(1, text.count / 4), cachedTokens: 0)
    }

    static let savingsWords = ["sav", "energy", "cost", "kwh", "risparm", "energia", "costo", "ahorr", "energía", "économ", "énergie",
                               "spar", "energie", "kosten"]

    static func mentions(_ text: String, _ stems: [String]) -> Bool {
        stems.contains { text.contains($0) }
    }

    /// A production volume written as a number followed by a unit of mass per time ("20 t/day", "500 kg/h"),
    /// in tonnes; `nil` when the message names none, or one too large to be a real volume.
    ///
    /// A scan instead of a regular expression: searching for `\d+…\s*unit` backtracks through every suffix of
    /// a long run of digits that no unit follows, so its time grows with the square of the message.
    static func productionVolume(in text: String) -> Double? {
        var rest = Substring(text)
        while let start = rest.firstIndex(where: isDigit) {
            let integerEnd = rest[start...].firstIndex { !isDigit($0) } ?? rest.endIndex
            var numberEnd = integerEnd
            if integerEnd < rest.endIndex, rest[integerEnd] == "." || rest[integerEnd] == "," {
                let fraction = rest.index(after: integerEnd)
                let fractionEnd = rest[fraction...].firstIndex { !isDigit($0) } ?? rest.endIndex
                if fractionEnd > fraction { numberEnd = fractionEnd }
            }
            let unitStart = rest[numberEnd...].firstIndex { !$0.isWhitespace } ?? rest.endIndex
            // A unit is a whole word of at most ten letters: an eleventh says it is some other word, and reading
            // no further keeps the scan linear.
            let word = rest[unitStart...].prefix(11).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if let tonnes = massUnits[String(word)], let number = Double(rest[start..<numberEnd].replacingOccurrences(of: ",", with: ".")) {
                return AssistantTools.plausibleVolume(number * tonnes)
            }
            rest = rest[integerEnd...]
        }
        return nil
    }

    /// Tonnes per unit, for the units a visitor writes in the five site locales.
    static let massUnits: [String: Double] = [
        "t": 1, "ton": 1, "tons": 1, "tonnellate": 1, "toneladas": 1, "tonnes": 1, "tonnen": 1, "kg": 0.001,
    ]

    private static func isDigit(_ character: Character) -> Bool {
        character.isASCII && character.isWholeNumber
    }

    static func compose(locale: String, industry: String?, tools: [ToolUse]) -> String {
        let phrases = Phrases.for(locale)
        var parts = [industry.map { phrases.industry($0) } ?? phrases.discovery]
        for tool in tools {
            switch tool.name {
            case .caseStudies: parts.append(tool.result)
            case .savingsCalculator: parts.append(phrases.savings(tool.estimatedSavingsPercent ?? 0, tool.productionVolume ?? 0))
            case .equipmentSpecs: parts.append(tool.result)
            case .consultationHandoff: parts.append(phrases.handoff)
            }
        }
        return parts.joined(separator: " ")
    }

    struct Phrases {
        let discovery: String
        let industry: (String) -> String
        let savings: (Double, Double) -> String
        let handoff: String

        static func `for`(_ locale: String) -> Phrases {
            switch locale {
            case "it": Phrases(discovery: "Ciao! In quale settore lavori e che cosa devi riscaldare o essiccare?",
                               industry: { "Ottimo, lavoriamo spesso nel settore \($0)." },
                               savings: { "Con \(Self.number($1)) t al giorno stimiamo un risparmio energetico del \(Self.number($0)) %." },
                               handoff: "Compila il modulo di consulenza: un ingegnere ti risponde entro un giorno lavorativo.")
            case "es": Phrases(discovery: "¡Hola! ¿En qué sector trabajas y qué necesitas calentar o secar?",
                               industry: { "Perfecto, trabajamos a menudo en el sector \($0)." },
                               savings: { "Con \(Self.number($1)) t al día estimamos un ahorro de energía del \(Self.number($0)) %." },
                               handoff: "Rellena el formulario de consulta: un ingeniero te responde en un día laborable.")
            case "fr": Phrases(discovery: "Bonjour ! Dans quel secteur travaillez-vous, et que devez-vous chauffer ou sécher ?",
                               industry: { "Très bien, nous travaillons souvent dans le secteur \($0)." },
                               savings: { "Avec \(Self.number($1)) t par jour, nous estimons une économie d'énergie de \(Self.number($0)) %." },
                               handoff: "Remplissez le formulaire de consultation : un ingénieur vous répond sous un jour ouvré.")
            case "de": Phrases(discovery: "Hallo! In welcher Branche arbeiten Sie, und was müssen Sie erwärmen oder trocknen?",
                               industry: { "Sehr gut, in der Branche \($0) arbeiten wir oft." },
                               savings: { "Bei \(Self.number($1)) t pro Tag schätzen wir \(Self.number($0)) % Energieeinsparung." },
                               handoff: "Füllen Sie das Beratungsformular aus: Ein Ingenieur antwortet innerhalb eines Werktags.")
            default: Phrases(discovery: "Hello! Which industry are you in, and what do you need to heat or dry?",
                             industry: { "Great, we work in the \($0) industry a lot." },
                             savings: { "At \(Self.number($1)) t a day we estimate \(Self.number($0)) % energy savings." },
                             handoff: "Fill in the consultation form: an engineer answers within one business day.")
            }
        }

        static func number(_ value: Double) -> String {
            String(format: value == value.rounded() ? "%.0f" : "%.1f", value)
        }
    }
}
