import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type Gale throws: what failed (`operation`), why (`message`), and the
/// system's `errno` when there is one.
///
/// ```swift
/// do { _ = try await TCPClient.connect(host: "127.0.0.1", port: 1) }
/// catch let error as GaleError where error.errno == ECONNREFUSED { print(error) }
/// ```
public struct GaleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad class of failure, for code that branches on it.
    public enum Kind: Sendable, Equatable {
        /// A system call failed: see `errno`.
        case system
        /// Name resolution failed: see `resolverCode` (an `EAI_*` value).
        case resolver
        /// A deadline passed (Python's `socket.timeout`).
        case timeout
        /// A non-blocking call could not go on without waiting (`EAGAIN`, or `EINPROGRESS`
        /// for a connect): Python's `BlockingIOError`. Try again when the socket is ready.
        case wouldBlock
        /// The stream or socket is closed (by us, or reset by the peer).
        case closed
        /// The peer closed its side before the read could be satisfied.
        case endOfStream
        /// Data went past a limit (a read's `max`, a buffer bound).
        case limitExceeded
        /// The caller asked for something invalid.
        case invalidArgument
        /// The peer spoke the protocol wrongly.
        case protocolViolation
    }

    public let kind: Kind
    /// `errno` for system errors, else 0.
    public let errno: Int32
    /// The resolver's `EAI_*` code for resolver errors, else 0.
    public let resolverCode: Int32
    /// What was being done: "connect", "listen", "read", ...
    public let operation: String
    /// A readable explanation.
    public let message: String

    public init(kind: Kind, operation: String, message: String, errno: Int32 = 0, resolverCode: Int32 = 0) {
        self.kind = kind
        self.operation = operation
        self.message = message
        self.errno = errno
        self.resolverCode = resolverCode
    }

    /// An error from a libcore return code (`-errno` or a `GALE_E*` code).
    public init(code: Int32, operation: String) {
        let message = String(cString: gale_strerror(code))
        let eai = gale_error_eai(code)
        if eai != 0 {
            self.init(kind: .resolver, operation: operation, message: message, resolverCode: eai)
            return
        }
        let e = -code
        let kind: Kind
        switch e {
        case ETIMEDOUT: kind = .timeout
        case EAGAIN, EINPROGRESS, EALREADY: kind = .wouldBlock
        case EPIPE, ECONNRESET, ENOTCONN, EBADF: kind = .closed
        case EINVAL: kind = .invalidArgument
        default: kind = code == Int32(GALE_EPROTO_BAD) ? .protocolViolation : .system
        }
        self.init(kind: kind, operation: operation, message: message, errno: e > 0 && e < 4096 ? e : 0)
    }

    /// An error from the current `errno`.
    static func fromErrno(_ operation: String) -> GaleError {
        GaleError(code: -Glibc.errno, operation: operation)
    }

    public var description: String {
        var s = "\(operation): \(message)"
        if errno != 0 { s += " (errno \(errno))" }
        return s
    }

    static func closed(_ operation: String) -> GaleError {
        GaleError(kind: .closed, operation: operation, message: "the stream is closed", errno: EPIPE)
    }

    static func endOfStream(_ operation: String) -> GaleError {
        GaleError(kind: .endOfStream, operation: operation, message: "the peer closed the connection before the read was satisfied")
    }
}

/// Throws a `GaleError` for a negative libcore return code.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(GaleError) {
    if code < 0 { throw GaleError(code: code, operation: operation()) }
}
