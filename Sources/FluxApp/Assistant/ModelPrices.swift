import Foundation

/// What FluxAI's tokens cost: a price per million tokens for each model, with the date each price took
/// effect, so an old event keeps the price of its day after a change. Cached input tokens are the part of
/// the input the service read from its prompt cache, priced at the cached rate instead of the input rate.
struct ModelPrices: Sendable {
    struct Price: Sendable {
        let model: String
        let effectiveFrom: Date
        /// US dollars per million tokens.
        let input: Decimal
        let cachedInput: Decimal
        let output: Decimal
    }

    let prices: [Price]

    /// Published list prices of the models Flux is configured with most, and the offline assistant (free).
    static let standard = ModelPrices(prices: [
        Price(model: OfflineAssistant.model, effectiveFrom: .distantPast, input: 0, cachedInput: 0, output: 0),
        Price(model: "gpt-4o-mini", effectiveFrom: day("2024-07-18"), input: 0.15, cachedInput: 0.075, output: 0.60),
        Price(model: "gpt-4o", effectiveFrom: day("2024-05-13"), input: 5.00, cachedInput: 5.00, output: 15.00),
        Price(model: "gpt-4o", effectiveFrom: day("2024-10-01"), input: 2.50, cachedInput: 1.25, output: 10.00),
        Price(model: "gpt-4.1", effectiveFrom: day("2025-04-14"), input: 2.00, cachedInput: 0.50, output: 8.00),
        Price(model: "gpt-4.1-mini", effectiveFrom: day("2025-04-14"), input: 0.40, cachedInput: 0.10, output: 1.60),
        Price(model: "gpt-4.1-nano", effectiveFrom: day("2025-04-14"), input: 0.10, cachedInput: 0.025, output: 0.40),
    ])

    private static func day(_ text: String) -> Date {
        try! Date(text + "T00:00:00Z", strategy: .iso8601)
    }

    /// The price of `model` on `date`: the latest that took effect by then; `nil` for a model not listed.
    func price(of model: String, on date: Date) -> Price? {
        prices.filter { $0.model == model && $0.effectiveFrom <= date }.max { $0.effectiveFrom < $1.effectiveFrom }
    }

    /// The cost in US dollars of one event; `nil` when it used no tokens or its model has no price.
    func cost(of event: AiEvent) -> Decimal? {
        cost(model: event.model, at: event.createdAt, tokensIn: event.tokensIn, cachedTokens: event.cachedTokens, tokensOut: event.tokensOut)
    }

    func cost(model: String?, at date: Date, tokensIn: Int?, cachedTokens: Int?, tokensOut: Int?) -> Decimal? {
        guard let model, let price = price(of: model, on: date) else { return nil }
        let input = tokensIn ?? 0, cached = min(cachedTokens ?? 0, input), output = tokensOut ?? 0
        let micro = Decimal(input - cached) * price.input + Decimal(cached) * price.cachedInput + Decimal(output) * price.output
        return micro / 1_000_000
    }
}
