import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One result of `getaddrinfo`: Python's `(family, type, proto, canonname, sockaddr)`.
public struct AddressInfo: Sendable, Hashable, CustomStringConvertible {
    public var family: SocketAddress.Family
    public var type: SocketType
    /// `IPPROTO_TCP` (6), `IPPROTO_UDP` (17), or 0.
    public var proto: Int32
    /// The canonical name, when `.canonicalName` was asked for (else "").
    public var canonicalName: String
    public var address: SocketAddress

    public init(family: SocketAddress.Family, type: SocketType, proto: Int32, canonicalName: String,
                address: SocketAddress) {
        self.family = family
        self.type = type
        self.proto = proto
        self.canonicalName = canonicalName
        self.address = address
    }

    public var description: String { "(\(family), \(type), \(proto), \"\(canonicalName)\", \(address))" }

    /// The list behind a `struct addrinfo` chain.
    static func list(_ head: UnsafePointer<addrinfo>?) -> [AddressInfo] {
        var out: [AddressInfo] = []
        var p = head
        while let ai = p?.pointee {
            var a = gale_addr()
            if let sa = ai.ai_addr, gale_addr_from_sockaddr(sa, ai.ai_addrlen, &a) == 0 {
                out.append(AddressInfo(family: SocketAddress.Family(rawValue: ai.ai_family),
                                       type: SocketType(rawValue: ai.ai_socktype), proto: ai.ai_protocol,
                                       canonicalName: ai.ai_canonname.map { String(cString: $0) } ?? "",
                                       address: SocketAddress(raw: a)))
            }
            p = UnsafePointer(ai.ai_next)
        }
        return out
    }
}

/// Name resolution with the system's resolver (`/etc/hosts`, nsswitch, DNS), like Python's
/// `socket.getaddrinfo`, `getnameinfo`, `gethostbyname`, `gethostbyaddr` and `gethostname`.
///
/// The async calls run the lookup on libcore's helper threads and finish on the loop, so no
/// loop ever blocks on DNS; `TCPClient.connect` and `UDPSocket.send(_:to:port:)` resolve the
/// same way. Failures are `GaleError`s of kind `.resolver` whose `resolverCode` is the
/// `EAI_*` value and whose message is the resolver's own (`gai_strerror`).
///
/// ```swift
/// for info in try await Resolver.addressInfo("localhost", "www") {
///     print(info.family, info.type, info.proto, info.address)   // inet stream 6 127.0.0.1:80
/// }
/// ```
public enum Resolver {
    /// `AI_*` flags for ``addressInfo(_:_:family:type:proto:flags:loop:)``.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `AI_PASSIVE`: addresses to bind (the wildcard when `host` is nil).
        public static let passive = Flags(rawValue: AI_PASSIVE)
        /// `AI_CANONNAME`: fill in `canonicalName` on the first result.
        public static let canonicalName = Flags(rawValue: AI_CANONNAME)
        /// `AI_NUMERICHOST`: `host` must be a numeric address; no lookup.
        public static let numericHost = Flags(rawValue: AI_NUMERICHOST)
        /// `AI_NUMERICSERV`: `service` must be a port number.
        public static let numericService = Flags(rawValue: AI_NUMERICSERV)
        /// `AI_ADDRCONFIG`: only families the host has a configured address for.
        public static let addressConfig = Flags(rawValue: AI_ADDRCONFIG)
        /// `AI_V4MAPPED` (with family `.inet6`).
        public static let v4Mapped = Flags(rawValue: AI_V4MAPPED)
    }

    /// `getaddrinfo(host, service, family, type, proto, flags)`: every address, in the
    /// system's order. `host` or `service` may be nil (not both); a service is a name ("www",
    /// "http") or a number ("80"). Defaults match Python's: any family, any type.
    public static func addressInfo(_ host: String?, _ service: String? = nil, family: SocketAddress.Family = .unspecified,
                                   type: SocketType? = nil, proto: Int32 = 0, flags: Flags = [],
                                   loop: EventLoop? = nil) async throws -> [AddressInfo] {
        let loop = try loop ?? EventLoop.shared
        let what = lookupName(host, service)
        return try await Lookup<[AddressInfo]>.run(loop: loop, what: what) { ud in
            var h = hints(family, type, proto, flags)
            return gale_getaddrinfo_start(loop.raw, host, service, &h, addrinfoDone, ud, releaseLookupAddrs, nil)
        }
    }

    /// The same lookup on the calling thread, blocking it (as Python's `getaddrinfo` does): for
    /// programs written with blocking ``Socket``s. Never call it on an ``EventLoop``'s thread.
    public static func addressInfoBlocking(_ host: String?, _ service: String? = nil,
                                           family: SocketAddress.Family = .unspecified, type: SocketType? = nil,
                                           proto: Int32 = 0, flags: Flags = []) throws(GaleError) -> [AddressInfo] {
        var h = hints(family, type, proto, flags)
        var res: UnsafeMutablePointer<addrinfo>?
        let e = getaddrinfo(host, service, &h, &res)
        if e != 0 { throw GaleError(code: gale_error_from_eai(e), operation: lookupName(host, service)) }
        defer { freeaddrinfo(res) }
        return AddressInfo.list(res)
    }

    /// host:port as one address, for the calls that take a host and a port: a numeric address
    /// as it is, else the first `getaddrinfo` result (the port as a number) in the system's
    /// order. A lookup that finds nothing throws the resolver's `EAI_NONAME` error.
    package static func firstAddress(_ host: String, port: Int, family: SocketAddress.Family = .unspecified,
                                     type: SocketType? = nil, flags: Flags = [],
                                     loop: EventLoop? = nil) async throws -> SocketAddress {
        if let a = try? SocketAddress(ip: host, port: port) { return a }
        let found = try await addressInfo(host, String(port), family: family, type: type,
                                          flags: flags.union(.numericService), loop: loop)
        return try first(of: found, host)
    }

    /// ``firstAddress(_:port:family:type:flags:loop:)`` on the calling thread, blocking it (for
    /// blocking ``Socket``s; never on an ``EventLoop``'s thread).
    package static func firstAddressBlocking(_ host: String, port: Int, family: SocketAddress.Family = .unspecified,
                                             type: SocketType? = nil, flags: Flags = []) throws(GaleError) -> SocketAddress {
        if let a = try? SocketAddress(ip: host, port: port) { return a }
        let found = try addressInfoBlocking(host, String(port), family: family, type: type,
                                            flags: flags.union(.numericService))
        return try first(of: found, host)
    }

    private static func first(of found: [AddressInfo], _ host: String) throws(GaleError) -> SocketAddress {
        guard let first = found.first else {
            throw GaleError(code: gale_error_from_eai(EAI_NONAME), operation: "resolve \(host)")
        }
        return first.address
    }

    private static func lookupName(_ host: String?, _ service: String?) -> String {
        (["getaddrinfo"] + [host, service].compactMap { $0 }).joined(separator: " ")
    }

    private static func hints(_ family: SocketAddress.Family, _ type: SocketType?, _ proto: Int32,
                              _ flags: Flags) -> addrinfo {
        var h = addrinfo()
        h.ai_family = family.rawValue
        h.ai_socktype = type?.rawValue ?? 0
        h.ai_protocol = proto
        h.ai_flags = flags.rawValue
        return h
    }

    /// `NI_*` flags for ``nameInfo(_:flags:loop:)``.
    public struct NameFlags: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `NI_NAMEREQD`: fail when the address has no name (instead of returning it numeric).
        public static let nameRequired = NameFlags(rawValue: NI_NAMEREQD)
        public static let numericHost = NameFlags(rawValue: NI_NUMERICHOST)
        public static let numericService = NameFlags(rawValue: NI_NUMERICSERV)
        /// `NI_DGRAM`: look the port up as a UDP service.
        public static let datagram = NameFlags(rawValue: NI_DGRAM)
        /// `NI_NOFQDN`: the short name for local hosts.
        public static let noFQDN = NameFlags(rawValue: NI_NOFQDN)
    }

    /// `getnameinfo((host, port), flags)`: the host's name and the port's service name (each
    /// numeric when it has none, unless `.nameRequired`).
    public static func nameInfo(_ address: SocketAddress, flags: NameFlags = [],
                                loop: EventLoop? = nil) async throws -> (host: String, service: String) {
        let loop = try loop ?? EventLoop.shared
        let raw = address.raw
        let pair = try await Lookup<[String]>.run(loop: loop, what: "getnameinfo \(address)") { ud in
            withUnsafePointer(to: raw) { gale_getnameinfo_start(loop.raw, $0, flags.rawValue, nameinfoDone, ud, releaseLookupNames, nil) }
        }
        return (pair[0], pair[1])
    }

    /// `gethostbyname(name)`: the first IPv4 address of a name, as text.
    public static func hostByName(_ name: String, loop: EventLoop? = nil) async throws -> String {
        let found = try await addressInfo(name, nil, family: .inet, type: .stream, loop: loop)
        guard let first = found.first else { throw GaleError(code: gale_error_from_eai(EAI_NONAME), operation: "gethostbyname \(name)") }
        return first.address.host
    }

    /// `gethostbyaddr(ip)`: the name of an address, through `getnameinfo` with `NI_NAMEREQD`
    /// (an address without a name is an error, as in Python). `aliases` is always empty:
    /// getnameinfo does not report them. `addresses` is the address asked about.
    public static func hostByAddress(_ ip: String, loop: EventLoop? = nil) async throws
        -> (name: String, aliases: [String], addresses: [String]) {
        let address = try SocketAddress(ip: ip, port: 0)
        let (host, _) = try await nameInfo(address, flags: [.nameRequired], loop: loop)
        return (host, [], [address.host])
    }

    /// `gethostname()`: this machine's host name.
    public static func hostName() throws(GaleError) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        let n = gale_gethostname(&buf, buf.count)
        try check(n, "gethostname")
        return String(decoding: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - One lookup in flight

/// A request started on the loop and finished by its C callback; loop thread only. The C side
/// holds a reference until the request ends. Cancelling the task cancels the lookup.
final class Lookup<T: Sendable>: @unchecked Sendable {
    private var cont: UnsafeContinuation<T, any Error>?
    private var cancelled = false
    private var finished = false
    private let what: String

    private init(what: String) { self.what = what }

    /// Start with `begin(ud)` on the loop (ud is a retained reference to the lookup, released
    /// by the C side), and wait for ``finish(_:)``.
    static func run(loop: EventLoop, what: String,
                    _ begin: @escaping @Sendable (UnsafeMutableRawPointer) -> Int32) async throws -> T {
        let lookup = Lookup(what: what)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<T, any Error>) in
                loop.runOnLoop { lookup.begin(c, begin) }
            }
        } onCancel: {
            loop.runOnLoop { lookup.cancel() }
        }
    }

    private func begin(_ c: UnsafeContinuation<T, any Error>, _ start: (UnsafeMutableRawPointer) -> Int32) {
        if cancelled { return c.resume(throwing: CancellationError()) }
        cont = c
        let me = Unmanaged.passRetained(self).toOpaque()
        let r = start(me)
        if r < 0 {
            Unmanaged<Lookup>.fromOpaque(me).release()
            cont = nil
            c.resume(throwing: GaleError(code: r, operation: what))
        }
    }

    /// The C callback's result: a value, or (nil) the libcore error code.
    func finish(_ value: T?, _ code: Int32) {
        finished = true
        guard let c = cont else { return }
        cont = nil
        if let value { c.resume(returning: value) } else { c.resume(throwing: GaleError(code: code, operation: what)) }
    }

    /// The system resolver cannot be interrupted: the lookup runs on, and its callback finds
    /// no continuation to resume.
    private func cancel() {
        cancelled = true
        guard let c = cont, !finished else { return }
        cont = nil
        c.resume(throwing: CancellationError())
    }
}

private let addrinfoDone: gale_getaddrinfo_cb = { _, err, res, ud in
    let lookup = Unmanaged<Lookup<[AddressInfo]>>.fromOpaque(ud!).takeUnretainedValue()
    lookup.finish(err < 0 ? nil : AddressInfo.list(res), err)
}

private let nameinfoDone: gale_getnameinfo_cb = { _, err, host, service, ud in
    let lookup = Unmanaged<Lookup<[String]>>.fromOpaque(ud!).takeUnretainedValue()
    lookup.finish(err < 0 ? nil : [String(cString: host!), String(cString: service!)], err)
}

private let releaseLookupAddrs: gale_free_fn = { ud in
    Unmanaged<Lookup<[AddressInfo]>>.fromOpaque(ud!).release()
}

private let releaseLookupNames: gale_free_fn = { ud in
    Unmanaged<Lookup<[String]>>.fromOpaque(ud!).release()
}
