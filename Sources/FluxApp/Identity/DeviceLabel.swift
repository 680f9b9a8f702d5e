/// A short, human label for the device behind a User-Agent ("Firefox on Linux"), shown in the session list.
/// Only well-known names are picked out, so nothing a client writes in its User-Agent is echoed back.
enum DeviceLabel {
    static func from(userAgent: String?) -> String {
        guard let agent = userAgent, !agent.isEmpty else { return "Unknown device" }
        let browsers: [(marker: String, name: String)] = [
            ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Chromium/", "Chromium"),
            ("Safari/", "Safari"), ("curl/", "curl"), ("python-requests/", "Python"), ("okhttp/", "Android app"),
        ]
        let systems: [(marker: String, name: String)] = [
            ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"),
        ]
        let browser = browsers.first { agent.contains($0.marker) }?.name
        let system = systems.first { agent.contains($0.marker) }?.name
        switch (browser, system) {
        case let (browser?, system?): return "\(browser) on \(system)"
        case let (browser?, nil): return browser
        case let (nil, system?): return "Browser on \(system)"
        case (nil, nil): return "Other client"
        }
    }
}
