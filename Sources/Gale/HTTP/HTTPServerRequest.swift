import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP request, like Tornado's `HTTPServerRequest`.
///
/// The head is copied once as raw bytes when the request arrives; header values, arguments
/// and cookies are decoded from that copy the first time they are asked for, so a handler
/// pays only for what it looks at, and the request stays valid after its response. Use it on
/// the loop that delivered it (handlers always do).
public final class HTTPServerRequest: @unchecked Sendable {
    /// "GET", "POST", ...
    public let method: String
    /// The path as sent, still percent-encoded ("/a%20b"), without the query.
    public var path: String {
        if let p = decodedPath { return p }
        let p = text(pathRange)
        decodedPath = p
        return p
    }
    // The request is loop-confined: its stored properties need no dynamic exclusivity checks.
    /// Captures of the route's pattern, percent-decoded (Tornado's positional path args).
    public var pathArguments: [String] { captures?.args ?? [] }
    /// Named captures of the route's pattern (Tornado's keyword path args).
    public var pathKeywordArguments: [String: String] { captures?.kwargs ?? [:] }
    /// What a regex route captured (nil for a literal route: most requests carry none).
    @exclusivity(unchecked) var captures: RouteCaptures?
    /// The client's address.
    public var peer: SocketAddress? {
        if let p = peerInPlace { return SocketAddress(raw: p.pointee) }
        return peerCopy
    }
    /// libcore's copy of the client's address (the connection's, so valid as long as the head
    /// is read in place), else ours.
    @exclusivity(unchecked) private var peerInPlace: UnsafePointer<gale_addr>?
    @exclusivity(unchecked) private var peerCopy: SocketAddress?

    /// The raw head (request line to the empty line) and the fields' offsets into it. Served
    /// inline (a SyncRequestHandler), both are libcore's, read in place: libcore keeps them
    /// until its request callback returns, and the request is copied then only if something
    /// still holds it. Otherwise they are copied (one malloc for both, freed in deinit) when
    /// the response ends.
    @exclusivity(unchecked) private var storage: UnsafeRawBufferPointer
    @exclusivity(unchecked) private var fields: UnsafeRawPointer?
    @exclusivity(unchecked) private var owned: Bool
    /// Served inline: the copy is decided when the callback ends, not when the response does.
    @exclusivity(unchecked) var servedInline = false
    private let headLength: Int
    private let fieldCount: Int
    private let targetRange: Range<Int>
    private let queryRange: Range<Int>
    private let pathRange: Range<Int>
    private let versionNumber: Int
    /// The parser's GALE_HTTP_F_* notes on the head.
    private let headFlags: UInt32
    // Made on first use: routing a literal pattern compares bytes.
    @exclusivity(unchecked) private var decodedPath: String?

    /// The C request while its response is open (the body is read from it lazily).
    @exclusivity(unchecked) private var raw: OpaquePointer?
    @exclusivity(unchecked) private var copiedBody: [UInt8]?
    @exclusivity(unchecked) private var copiedHeaders: HTTPHeaders?

    init(raw: OpaquePointer) {
        self.raw = raw
        let h = gale_http_request_head(raw)
        let base = UnsafeRawPointer(h.ptr!)
        var n: UInt32 = 0
        let f = gale_http_request_fields(raw, &n)
        headLength = h.len
        fieldCount = Int(n)
        storage = UnsafeRawBufferPointer(start: base, count: h.len)
        fields = UnsafeRawPointer(f)
        owned = false
        // Everything else from the parsed head in one call (offsets from the head's start).
        let p = gale_http_request_parsed(raw).pointee
        func range(_ off: UInt32, _ len: UInt32) -> Range<Int> {
            len == 0 ? 0..<0 : Int(off)..<Int(off) + Int(len)
        }
        targetRange = range(p.target_off, p.target_len)
        queryRange = p.query_off == 0 ? 0..<0 : range(p.query_off, p.query_len)
        pathRange = range(p.path_off, p.path_len)
        versionNumber = Int(p.version_major) * 10 + Int(p.version_minor)
        headFlags = p.flags
        peerInPlace = gale_http_request_peer(raw)
        method = methodString(gale_slice(ptr: (base + Int(p.method_off)).assumingMemoryBound(to: CChar.self), len: Int(p.method_len)))
    }

    /// The path's bytes as sent (valid as long as the request).
    var pathBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[pathRange]) }

    deinit { if owned { free(UnsafeMutableRawPointer(mutating: storage.baseAddress)) } }

    /// Copy the head and the fields out of libcore's buffers (they go when the response ends,
    /// or when the callback that served it inline returns). Loop thread.
    func detach() {
        if owned { return }
        let fieldBytes = fieldCount * MemoryLayout<gale_http_field>.stride
        // malloc's alignment is enough; allocate(byteCount:alignment:) may take posix_memalign.
        guard let mem = malloc(max(headLength + fieldBytes, 1)) else { fatalError("out of memory") }
        if headLength > 0 { mem.copyMemory(from: storage.baseAddress!, byteCount: headLength) }
        if fieldBytes > 0, let f = fields { (mem + headLength).copyMemory(from: f, byteCount: fieldBytes) }
        storage = UnsafeRawBufferPointer(start: mem, count: headLength)
        fields = UnsafeRawPointer(mem + headLength)
        if let p = peerInPlace { peerCopy = SocketAddress(raw: p.pointee) }
        peerInPlace = nil
        owned = true
    }

    /// A request built by hand (tests, internal redirects).
    public init(method: String, uri: String, version: String = "HTTP/1.1", headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = []) {
        self.method = method
        var line = Array("\(method) \(uri) \(version)\r\n".utf8)
        var fields: [gale_http_field] = []
        for (name, value) in headers {
            let nameOff = line.count
            line += Array(name.utf8) + Array(": ".utf8)
            let valueOff = line.count
            line += Array(value.utf8) + [13, 10]
            fields.append(gale_http_field(name_off: UInt32(nameOff), name_len: UInt32(name.utf8.count),
                                          value_off: UInt32(valueOff), value_len: UInt32(value.utf8.count)))
        }
        let head = line + [13, 10]
        headLength = head.count
        fieldCount = fields.count
        let bytes = head + fields.withUnsafeBytes { Array($0) }
        guard let mem = malloc(max(bytes.count, 1)) else { fatalError("out of memory") }
        let dst = UnsafeMutableRawBufferPointer(start: mem, count: bytes.count)
        dst.copyBytes(from: bytes)
        storage = UnsafeRawBufferPointer(start: mem, count: head.count)
        self.fields = UnsafeRawPointer(mem + head.count)
        owned = true
        let targetStart = method.utf8.count + 1
        targetRange = targetStart..<targetStart + uri.utf8.count
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            let qStart = targetStart + uri.utf8.distance(from: uri.utf8.startIndex, to: q) + 1
            queryRange = qStart..<targetRange.upperBound
            pathRange = targetStart..<qStart - 1
        } else {
            queryRange = 0..<0
            pathRange = targetRange
        }
        versionNumber = version == "HTTP/1.0" ? 10 : 11
        headFlags = headers["If-None-Match"] != nil ? UInt32(GALE_HTTP_F_IF_NONE_MATCH) : 0
        peerInPlace = nil
        copiedBody = body
    }

    private func text(_ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: storage[r]), as: UTF8.self)
    }

    /// The i-th field's offsets (stored unaligned after the head).
    private func field(_ i: Int) -> gale_http_field {
        fields!.loadUnaligned(fromByteOffset: i * MemoryLayout<gale_http_field>.stride, as: gale_http_field.self)
    }

    /// The request has an If-None-Match header (known from parsing: no search).
    var hasIfNoneMatch: Bool { headFlags & UInt32(GALE_HTTP_F_IF_NONE_MATCH) != 0 }

    /// The request-target as sent ("/search?q=gale").
    public var uri: String { text(targetRange) }

    /// The query string without '?' ("" if none).
    public var query: String { text(queryRange) }

    /// "HTTP/1.1" or "HTTP/1.0".
    public var version: String { versionNumber == 10 ? "HTTP/1.0" : "HTTP/1.1" }

    /// Every header field, in order, names as sent.
    public var headers: HTTPHeaders {
        if let h = copiedHeaders { return h }
        var h = HTTPHeaders()
        for i in 0..<fieldCount {
            let f = field(i)
            h.add(text(Int(f.name_off)..<Int(f.name_off + f.name_len)), text(Int(f.value_off)..<Int(f.value_off + f.value_len)))
        }
        copiedHeaders = h
        return h
    }

    /// The first value of a header (case-insensitive), without building the whole map.
    public func header(_ name: String) -> String? {
        var name = name
        let h = storage
        let found: gale_http_field? = name.withUTF8 { n in
            for i in 0..<fieldCount {
                let f = field(i)
                guard Int(f.name_len) == n.count else { continue }
                var same = true
                for j in 0..<n.count where lowerASCII(h[Int(f.name_off) + j]) != lowerASCII(n[j]) {
                    same = false
                    break
                }
                if same { return f }
            }
            return nil
        }
        guard let f = found else { return nil }
        return text(Int(f.value_off)..<Int(f.value_off + f.value_len))
    }

    /// The body (empty if none, or if it was streamed to the handler).
    public var body: [UInt8] {
        if let b = copiedBody { return b }
        var b: [UInt8] = []
        if let raw {
            let s = gale_http_request_body(raw)
            if s.len > 0 { b = Array(UnsafeRawBufferPointer(start: s.ptr, count: s.len)) }
        }
        copiedBody = b
        return b
    }

    /// The client's IP address as text (Tornado's `remote_ip`).
    public var remoteIP: String { peer?.host ?? "" }

    /// The Host header (Tornado's `host`), or "127.0.0.1" if absent.
    public var host: String { header("Host") ?? "127.0.0.1" }

    /// Arguments from the query string.
    public lazy var queryArguments: [String: [String]] = URLEncoding.parseQuery(query)

    /// Arguments from a form body (application/x-www-form-urlencoded or multipart/form-data).
    public lazy var bodyArguments: [String: [String]] = FormData.arguments(contentType: header("Content-Type"), body: body)

    /// Files from a multipart/form-data body, by field name.
    public lazy var files: [String: [UploadedFile]] = FormData.files(contentType: header("Content-Type"), body: body)

    /// Query and body arguments together, query values first (Tornado's `arguments`).
    public var arguments: [String: [String]] {
        var all = queryArguments
        for (k, v) in bodyArguments { all[k, default: []] += v }
        return all
    }

    /// Cookies the client sent.
    public lazy var cookies: [String: String] = Cookies.parse(header("Cookie") ?? "")

    /// The response is over: keep a copy of the head (unless served inline: see `storage`) and
    /// of a buffered body, and let go of the C request.
    func responseEnded() {
        guard let raw else { return }
        if !servedInline { detach() }
        if copiedBody == nil {
            let s = gale_http_request_body(raw)
            if s.len > 0 { copiedBody = Array(UnsafeRawBufferPointer(start: s.ptr, count: s.len)) } // else `body` is []
        }
        self.raw = nil
    }
}

/// A file from a multipart/form-data body.
public struct UploadedFile: Sendable, Equatable {
    public var filename: String
    public var contentType: String
    public var body: [UInt8]
}

/// The method as a String: the standard ones are literals (no decoding, no allocation).
func methodString(_ s: gale_slice) -> String {
    guard let p = s.ptr else { return "" }
    let b = UnsafeRawBufferPointer(start: p, count: s.len)
    func isLiteral(_ lit: StaticString) -> Bool {
        lit.utf8CodeUnitCount == b.count && memcmp(lit.utf8Start, p, b.count) == 0
    }
    switch b.count {
    case 3:
        if isLiteral("GET") { return "GET" }
        if isLiteral("PUT") { return "PUT" }
    case 4:
        if isLiteral("POST") { return "POST" }
        if isLiteral("HEAD") { return "HEAD" }
    case 5: if isLiteral("PATCH") { return "PATCH" }
    case 6: if isLiteral("DELETE") { return "DELETE" }
    case 7: if isLiteral("OPTIONS") { return "OPTIONS" }
    default: break
    }
    return string(s)
}

@inline(__always)
func string(_ s: gale_slice) -> String {
    guard let p = s.ptr, s.len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: p, count: s.len), as: UTF8.self)
}
