import Foundation

/// What the assistant knows of the conversation when it answers.
struct AssistantContext: Sendable {
    let locale: String
    let industry: String?
    let productionVolume: Double?
}

/// A tool the assistant used while answering, with what it returned.
struct ToolUse: Sendable {
    enum Name: String, Sendable {
        case caseStudies = "case_studies", savingsCalculator = "energy_savings_calculator"
        case equipmentSpecs = "equipment_specs", consultationHandoff = "consultation_handoff"
    }

    let name: Name
    let arguments: [String: String]
    let result: String
    var estimatedSavingsPercent: Double?
    var productionVolume: Double?
}

/// One answer: the text, the tools behind it, and what it cost in tokens.
struct AssistantTurn: Sendable {
    let text: String
    let tools: [ToolUse]
    let tokensIn: Int
    let tokensOut: Int
    let cachedTokens: Int
}

/// The model behind FluxAI: an OpenAI-compatible service, or ``OfflineAssistant``.
protocol LLMProvider: Sendable {
    func reply(to message: String, context: AssistantContext) async throws -> AssistantTurn
}

/// The assistant that needs no outside service (the default with no API key): deterministic, answering from
/// the company's case studies and equipment data with the same four tools the online model is given.
struct OfflineAssistant: LLMProvider {
    static let caseStudies: [String: String] = [
        "textile": "A yarn dyer in Biella cut drying time by 60 % and energy by 35 % with RF drying of bobbins.",
        "food": "A pasta maker in Parma pasteurises and dries filled pasta in line, 30 % less energy than hot air.",
        "rubber": "A hose manufacturer pre-heats rubber compound to vulcanisation temperature in 90 s, evenly through.",
        "pharma": "A tablet producer dries granulate at 40 °C without hot spots, halving batch time.",
        "wood": "A timber mill kills pests (ISPM-15) in pallets in minutes instead of hours of kiln time.",
    ]
    static let baseSavings: [String: Double] = ["textile": 35, "food": 30, "rubber": 25, "pharma": 28, "wood": 40]
    static let equipment = "RF generators from 10 to 400 kW at 27.12 MHz, conveyor or batch applicators, PLC with remote monitoring."

    func reply(to message: String, context: AssistantContext) async throws -> AssistantTurn {
        let lower = message.lowercased()
        let industry = context.industry ?? IndustryDetector.detect(message)
        var tools: [ToolUse] = []
        if Self.mentions(lower, ["case", "example", "reference", "caso", "esempi", "ejemplo", "exemple", "beispiel", "referenz"]) {
            let study = industry.flatMap { Self.caseStudies[$0] } ?? Self.caseStudies.values.sorted().joined(separator: " ")
            tools.append(ToolUse(name: .caseStudies, arguments: ["industry": industry ?? "any"], result: study))
        }
        if let volume = Self.productionVolume(in: lower) ?? (Self.mentions(lower, Self.savingsWords) ? context.productionVolume : nil),
            Self.mentions(lower, Self.savingsWords) || Self.productionVolume(in: lower) != nil {
            let percent = Self.savings(industry: industry, volume: volume)
            var use = ToolUse(name: .savingsCalculator, arguments: ["industry": industry ?? "generic", "productionVolume": String(volume)],
                              result: "estimatedSavingsPercent=\(percent)")
            use.estimatedSavingsPercent = percent
            use.productionVolume = volume
            tools.append(use)
        }
        if Self.mentions(lower, ["spec", "equipment", "machine", "power", "kw", "macchin", "máquina", "maquina", "maschine", "anlage"]) {
            tools.append(ToolUse(name: .equipmentSpecs, arguments: ["industry": industry ?? "any"], result: Self.equipment))
        }
        if Self.mentions(lower, ["consult", "contact", "call", "meeting", "engineer", "quote", "preventiv", "contatt", "consulta", "contacto",
                                 "rendez", "contacter", "beratung", "kontakt", "termin", "ingegner", "ingenier", "ingénieur", "ingenieur"]) {
            tools.append(ToolUse(name: .consultationHandoff, arguments: [:],
                                 result: "Offer the consultation form; an engineer answers within one business day."))
        }
        let text = Self.compose(locale: context.locale, industry: industry, tools: tools)
        // The offline assistant has no tokenizer; four characters a token is the usual estimate.
        return AssistantTurn(text: text, tools: tools, tokensIn: max(1, message.count / 4), tokensOut: max(1, text.count / 4), cachedTokens: 0)
    }

    static let savingsWords = ["sav", "energy", "cost", "kwh", "risparm", "energia", "costo", "ahorr", "energía", "économ", "énergie",
                               "spar", "energie", "kosten"]

    static func mentions(_ text: String, _ stems: [String]) -> Bool {
        stems.contains { text.contains($0) }
    }

    /// A production volume written as a number followed by a unit of mass per time ("20 t/day", "500 kg/h").
    static func productionVolume(in text: String) -> Double? {
        let pattern = #/(\d+(?:[.,]\d+)?)\s*(t|kg|tons?|tonnellate|toneladas|tonnes|tonnen)\b/#
        guard let match = text.firstMatch(of: pattern) else { return nil }
        let number = Double(match.1.replacingOccurrences(of: ",", with: ".")) ?? 0
        return match.2 == "kg" ? number / 1000 : number
    }

    /// The calculator: the industry's typical saving, a little more at volume (economies of scale), capped.
    static func savings(industry: String?, volume: Double) -> Double {
        let base = industry.flatMap { baseSavings[$0] } ?? 25
        return (min(base + log10(max(volume, 1)) * 3, 60) * 10).rounded() / 10
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
            value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }
    }
}
