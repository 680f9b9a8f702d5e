import Logging
import NIOCore
import NIOHTTP1

/// The header, idle and body-rate deadlines: scheduled on the connection's event loop, cancelled as the
/// request moves on.
extension ConnectionDeadlines {
    func awaitRequest() {
        guard phase != .upgraded, phase != .closing else { return }
        if bytesWaiting {
            bytesWaiting = false
            phase = .head
            schedule(after: limits.headerTimeout, .headerTimeout)
        } else {
            phase = .idle
            schedule(after: limits.idleTimeout, .idleTimeout)
        }
    }

    func schedule(after delay: TimeAmount, _ reason: Reason) {
        cancelDeadline()
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: delay) { bound.value.expire(reason) }
    }

    func expire(_ reason: Reason) {
        deadline = nil
        switch (reason, phase) {
        case (.headerTimeout, .head):
            events.closed(.headerTimeout)
            events.logger.debug("connection closed", metadata: ["reason": .string(reason.rawValue)])
            if unanswered == 0 {
                refuse(.requestTimeout, code: "request_timeout", message: "The request's headers did not arrive in time.")
            } else {
                close()
            }
        case (.idleTimeout, .idle):
            events.closed(.idleTimeout)
            events.logger.debug("connection closed", metadata: ["reason": .string(reason.rawValue)])
            close()
        default:
            break
        }
    }

    func startBodyRate() {
        stopBodyRate()
        guard limits.bodyMinimumRate > 0, let context else { return }
        bodyStarted = context.eventLoop.now
        bodyBytesThisSecond = 0
        bodySamples = []
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        rateCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            bound.value.sampleBodyRate()
        }
    }

    func sampleBodyRate() {
        guard phase == .body, let context else { return stopBodyRate() }
        // A second in which the server was not reading says nothing about the client.
        if reading || bodyBytesThisSecond > 0 {
            bodySamples.append(bodyBytesThisSecond)
            if bodySamples.count > limits.bodyRateWindow { bodySamples.removeFirst() }
        }
        bodyBytesThisSecond = 0
        guard context.eventLoop.now - bodyStarted >= limits.bodyRateGrace, !bodySamples.isEmpty else { return }
        let rate = bodySamples.reduce(0, +) / bodySamples.count
        guard rate < limits.bodyMinimumRate else { return }
        events.closed(.bodyRate)
        events.logger.debug("connection closed", metadata: ["reason": .string(Reason.bodyRate.rawValue), "bytes_per_second": .stringConvertible(rate)])
        stopBodyRate()
        // Already answered (an early 413 or 429, its body being drained) or answering: no second answer.
        let answer = unanswered > 0 && !responseStarted
        phase = .closing
        if answer {
            writeRefusal(.requestTimeout, code: "request_timeout", message: "The request's body arrived too slowly.", context: context)
        }
        // Vapor's body stream must end in an error: ended by the close alone it would read as complete.
        context.fireErrorCaught(BodyTooSlow())
        if answer { closeAfterLinger() } else { close() }
    }

    func stopBodyRate() {
        rateCheck?.cancel()
        rateCheck = nil
    }

    func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    func cancelTimers() {
        cancelDeadline()
        stopBodyRate()
    }
}
