import Foundation

/// The four tools FluxAI may use, the same for the offline assistant and for an online model: what each is
/// called, the JSON schema a model is shown, and what running it returns. Answers come from the company's
/// own case studies and equipment data, never from the model.
enum AssistantTools {
    static let caseStudies: [String: String] = [
        "textile": "A yarn dyer in Biella cut drying time by 60 % and energy by 35 % with RF drying of bobbins.",
        "food": "A pasta maker in Parma pasteurises and dries filled pasta in line, 30 % less energy than hot air.",
        "rubber": "A hose manufacturer pre-heats rubber compound to vulcanisation temperature in 90 s, evenly through.",
        "pharma": "A tablet producer dries granulate at 40 °C without hot spots, halving batch time.",
        "wood": "A timber mill kills pests (ISPM-15) in pallets in minutes instead of hours of kiln time.",
    ]
    static let baseSavings: [String: Double] = ["textile": 35, "food": 30, "rubber": 25, "pharma": 28, "wood": 40]
    static let equipment = "RF generators from 10 to 400 kW at 27.12 MHz, conveyor or batch applicators, PLC with remote monitoring."
    static let handoff = "Offer the consultation form; an engineer answers within one business day."

    /// Runs one tool. Arguments arrive as text (a model's JSON values, stringified); a missing or unreadable
    /// one falls back to what the conversation already knows.
    static func run(_ name: ToolUse.Name, arguments: [String: String], context: AssistantContext) -> ToolUse {
        let industry = arguments["industry"].flatMap { IndustryDetector.industries.contains($0) ? $0 : nil } ?? context.industry
        switch name {
        case .caseStudies:
            let study = industry.flatMap { caseStudies[$0] } ?? caseStudies.values.sorted().joined(separator: " ")
            return ToolUse(name: name, arguments: ["industry": industry ?? "any"], result: study)
        case .savingsCalculator:
            let volume = arguments["productionVolume"].flatMap(Double.init).flatMap(plausibleVolume) ?? context.productionVolume ?? 1
            let percent = savings(industry: industry, volume: volume)
            var use = ToolUse(name: name, arguments: ["industry": industry ?? "generic", "productionVolume": String(volume)],
                              result: "estimatedSavingsPercent=\(percent)")
            use.estimatedSavingsPercent = percent
            use.productionVolume = volume
            return use
        case .equipmentSpecs:
            return ToolUse(name: name, arguments: ["industry": industry ?? "any"], result: equipment)
        case .consultationHandoff:
            return ToolUse(name: name, arguments: [:], result: handoff)
        }
    }

    /// `volume` (tonnes a day) when a plant could produce it; `nil` for a negative, infinite or absurd number
    /// (a typo, a probe or a confused model), which would otherwise reach the calculator, the database and the
    /// reply's wording.
    static func plausibleVolume(_ volume: Double) -> Double? {
        (0...1_000_000_000).contains(volume) ? volume : nil
    }

    /// The calculator: the industry's typical saving, a little more at volume (economies of scale), capped.
    static func savings(industry: String?, volume: Double) -> Double {
        let base = industry.flatMap { baseSavings[$0] } ?? 25
        return (min(base + log10(max(volume, 1)) * 3, 60) * 10).rounded() / 10
    }

    /// The tools as an OpenAI-compatible `tools` array (function calling).
    static var definitions: [[String: Any]] {
        let industry: [String: Any] = ["type": "string", "enum": IndustryDetector.industries.sorted(),
                                       "description": "The visitor's industry, when known"]
        func function(_ name: ToolUse.Name, _ description: String, _ properties: [String: Any], required: [String] = []) -> [String: Any] {
            ["type": "function",
             "function": ["name": name.rawValue, "description": description,
                          "parameters": ["type": "object", "properties": properties, "required": required,
                                         "additionalProperties": false] as [String: Any]] as [String: Any]]
        }
        return [
            function(.caseStudies, "Case studies of RF heating and drying installations, for one industry or all", ["industry": industry]),
            function(.savingsCalculator, "Estimates the energy saving in percent of RF over conventional heating for a production volume",
                     ["industry": industry, "productionVolume": ["type": "number", "description": "Tonnes per day"]],
                     required: ["productionVolume"]),
            function(.equipmentSpecs, "Specifications of the company's RF generators and applicators", ["industry": industry]),
            function(.consultationHandoff, "Hands the visitor to an engineer through the consultation form", [:]),
        ]
    }
}
