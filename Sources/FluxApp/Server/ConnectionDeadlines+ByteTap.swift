import NIOCore

extension ConnectionDeadlines {
    /// What a request body's handler sees when the body was cut off for arriving too slowly.
    struct BodyTooSlow: Error, CustomStringConvertible {
        var description: String { "the request body arrived more slowly than HTTP_BODY_MIN_RATE" }
    }

    /// Sits first in the pipeline and reports raw bytes and read requests to the deadlines.
    final class ByteTap: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let deadlines: ConnectionDeadlines

        init(deadlines: ConnectionDeadlines) {
            self.deadlines = deadlines
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            deadlines.bytesArrived(unwrapInboundIn(data).readableBytes)
            if deadlines.discardsInput {
                // Read the socket even though nobody downstream asks for more, so the drain can finish.
                return context.read()
            }
            context.fireChannelRead(data)
        }

        func read(context: ChannelHandlerContext) {
            deadlines.readRequested()
            context.read()
        }
    }
}
