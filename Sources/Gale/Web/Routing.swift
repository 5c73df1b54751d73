#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A route: a path pattern and the handler class that serves it, as in Tornado's
/// `Application([(r"/", MainHandler)])`.
///
/// The pattern is a regular expression matched against the whole path (Tornado anchors it at
/// both ends). Unnamed capture groups become `pathArguments`, named ones
/// `pathKeywordArguments`, percent-decoded. A pattern without regex syntax ("/", "/about")
/// is compared as plain text, with no regex work per request.
public final class Route: @unchecked Sendable {
    public let pattern: String
    public let handler: RequestHandler.Type
    public let name: String?
    // One of the two is set. Regex values are immutable and matching does not mutate them:
    // sharing is safe.
    private let literal: [UInt8]?
    private let regex: Regex<AnyRegexOutput>?
    private let named: Bool
    /// Requests run straight from the read callback: a `SyncRequestHandler` that does not
    /// stream its body.
    let servesInline: Bool

    /// A route. Throws if the pattern is not a valid regular expression.
    public init(_ pattern: String, _ handler: RequestHandler.Type, name: String? = nil) throws(GaleError) {
        self.pattern = pattern
        self.handler = handler
        self.name = name
        servesInline = handler is SyncRequestHandler.Type && !handler.streamsRequestBody
        var body = Substring(pattern)
        if body.hasPrefix("^") { body = body.dropFirst() }
        if body.hasSuffix("$") && !body.hasSuffix("\\$") { body = body.dropLast() }
        if let literal = Route.literal(body) {
            self.literal = Array(literal.utf8)
            regex = nil
            named = false
        } else {
            literal = nil
            named = body.contains("(?<") || body.contains("(?P<")
            do {
                regex = try Regex(String(body))
            } catch {
                throw GaleError(kind: .invalidArgument, operation: "route \(pattern)",
                                message: "not a valid regular expression: \(error)")
            }
        }
    }

    /// The literal text of a pattern with no regex syntax (escaped punctuation allowed).
    private static func literal(_ p: Substring) -> String? {
        var out = ""
        var escaped = false
        for ch in p {
            if escaped {
                if ch.isLetter || ch.isNumber { return nil } // \d, \w, ...: a class, not a literal
                out.append(ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if "^$.*+?()[]{}|".contains(ch) {
                return nil
            } else {
                out.append(ch)
            }
        }
        return escaped ? nil : out
    }

    /// Whether a literal pattern is exactly `path`'s bytes; nil for a regex pattern.
    @inline(__always)
    func matchesLiteral(_ path: UnsafeRawBufferPointer) -> Bool? {
        guard let literal else { return nil }
        return literal.count == path.count
            && literal.withUnsafeBytes { memcmp($0.baseAddress!, path.baseAddress!, path.count) == 0 }
    }

    /// The path arguments if `path` matches the regex pattern, else nil.
    func matchPattern(_ path: String) -> RouteCaptures? {
        guard let regex, let m = try? regex.wholeMatch(in: path) else { return nil }
        var args: [String] = []
        var kwargs: [String: String] = [:]
        for group in m.output.dropFirst() {
            let value = group.substring.map { URLEncoding.decode($0, plusIsSpace: false) }
            if let name = group.name {
                if let value { kwargs[name] = value }
            } else if !named {
                args.append(value ?? "")
            }
        }
        return RouteCaptures(args: args, kwargs: kwargs)
    }
}

/// A regex route's captures for one request: unnamed (Tornado's path args) and named.
final class RouteCaptures: @unchecked Sendable {
    let args: [String]
    let kwargs: [String: String]
    init(args: [String], kwargs: [String: String]) {
        self.args = args
        self.kwargs = kwargs
    }
}
