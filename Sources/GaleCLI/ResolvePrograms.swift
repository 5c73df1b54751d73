import ArgumentParser
import Gale

/// The tutorial's `pprint(socket.getaddrinfo(host, service))`.
struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Print every getaddrinfo result for host and service, as the tutorial's pprint(getaddrinfo(...)).",
        discussion: """
            Each result is (family, type, protocol, canonname, (address, port)) with the numbers \
            Python prints (AF_INET is 2, SOCK_STREAM 1, ...); IPv6 addresses carry flowinfo and \
            scope_id as in Python. --json prints the same results as a JSON array.
            """
    )
    @Argument(help: "A host name or numeric address.") var host: String
    @Argument(help: "A service name (\"www\", \"http\") or port number.") var service: String?
    @Flag(help: "Print JSON: one object per result.") var json = false

    func run() async throws {
        let results = try await Resolver.addressInfo(host, service)
        if json {
            say("[" + results.map(jsonObject).joined(separator: ", ") + "]")
        } else {
            say(pprint(results.map(pythonTuple)))
        }
    }
}

/// The host's name, as `socket.gethostname()`.
struct HostnameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hostname", abstract: "Print this machine's host name.")

    func run() throws {
        say(try Resolver.hostName())
    }
}

/// Python's repr of a getaddrinfo tuple: (2, 1, 6, '', ('127.0.0.1', 80)).
func pythonTuple(_ info: AddressInfo) -> String {
    let a = info.address
    let sockaddr = a.family == .inet6
        ? "(\(pythonString(a.host)), \(a.port ?? 0), \(a.flowInfo), \(a.scopeID))"
        : "(\(pythonString(a.host)), \(a.port ?? 0))"
    return "(\(info.family.rawValue), \(info.type.rawValue), \(info.proto), \(pythonString(info.canonicalName)), \(sockaddr))"
}

/// pprint's layout of a list: one line if it fits in 80 columns, else one item per line.
func pprint(_ items: [String]) -> String {
    let flat = "[" + items.joined(separator: ", ") + "]"
    if flat.count <= 80 { return flat }
    return "[" + items.joined(separator: ",\n ") + "]"
}

/// Python's repr of a str (quotes chosen as Python chooses them).
func pythonString(_ s: String) -> String {
    let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for c in s {
        switch c {
        case "\\": out += "\\\\"
        case quote: out += "\\\(quote)"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.append(c)
        }
    }
    out.append(quote)
    return out
}

private func jsonObject(_ info: AddressInfo) -> String {
    let a = info.address
    let fields: [(String, String)] = [
        ("family", "\(info.family.rawValue)"), ("family_name", jsonString(familyName(info.family))),
        ("type", "\(info.type.rawValue)"), ("type_name", jsonString(typeName(info.type))),
        ("proto", "\(info.proto)"), ("canonname", jsonString(info.canonicalName)),
        ("address", jsonString(a.host)), ("port", "\(a.port ?? 0)"),
        ("flowinfo", "\(a.flowInfo)"), ("scope_id", "\(a.scopeID)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

private func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

private func familyName(_ f: SocketAddress.Family) -> String {
    switch f {
    case .inet: return "AF_INET"
    case .inet6: return "AF_INET6"
    case .unix: return "AF_UNIX"
    case .unspecified: return "AF_UNSPEC"
    }
}

private func typeName(_ t: SocketType) -> String {
    switch t {
    case .stream: return "SOCK_STREAM"
    case .datagram: return "SOCK_DGRAM"
    case .raw: return "SOCK_RAW"
    case .seqPacket: return "SOCK_SEQPACKET"
    case .other(let v): return "\(v)"
    }
}
