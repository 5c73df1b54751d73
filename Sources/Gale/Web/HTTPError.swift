import CGale

/// An error that becomes an HTTP response, like Tornado's `HTTPError`: throw it from a
/// handler and the client gets `status` with the standard page (or your `writeError`).
///
/// ```swift
/// guard let user = users[id] else { throw HTTPError(404) }
/// ```
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The status to answer with.
    public var status: Int
    /// The reason phrase; nil for the standard one ("Not Found").
    public var reason: String?
    /// Logged, never shown to the client.
    public var logMessage: String?

    public init(_ status: Int, reason: String? = nil, logMessage: String? = nil) {
        self.status = status
        self.reason = reason
        self.logMessage = logMessage
    }

    /// The reason phrase that goes out.
    public var phrase: String { reason ?? HTTPError.standardReason(status) }

    public var description: String {
        "HTTP \(status): \(phrase)" + (logMessage.map { " (\($0))" } ?? "")
    }

    /// The standard reason phrase for a status ("Not Found"), or "Unknown".
    public static func standardReason(_ status: Int) -> String {
        String(cString: gale_http_reason(Int32(clamping: status)))
    }
}
