import Foundation
import NIOCore
import NIOPosix

/// A file's bytes, or the `range` of them, read in 64 KiB pieces on the thread pool as they are pulled.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    static let chunkSize = 64 * 1024

    let file: URL
    /// `nil`: the whole file.
    let range: ClosedRange<Int64>?
    let threadPool: NIOThreadPool

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: FileChunks
        var handle: FileHandle?
        var remaining: Int64
        var opened = false

        mutating func next() async throws -> ByteBuffer? {
            if !opened {
                opened = true
                let file = source.file, start = source.range?.lowerBound ?? 0
                handle = try await source.threadPool.runIfActive {
                    let handle = try FileHandle(forReadingFrom: file)
                    try handle.seek(toOffset: UInt64(start))
                    return handle
                }
            }
            guard let handle, remaining > 0 else {
                close()
                return nil
            }
            let count = Int(Swift.min(remaining, Int64(FileChunks.chunkSize)))
            let data = try await source.threadPool.runIfActive { try handle.read(upToCount: count) ?? Data() }
            guard !data.isEmpty else {
                close()
                return nil
            }
            remaining -= Int64(data.count)
            return ByteBuffer(data: data)
        }

        private mutating func close() {
            try? handle?.close()
            handle = nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: self, remaining: range.map { $0.upperBound - $0.lowerBound + 1 } ?? .max)
    }
}
