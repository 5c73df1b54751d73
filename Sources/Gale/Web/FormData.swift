/// Parsing of form bodies, as Tornado's `parse_body_arguments`:
/// application/x-www-form-urlencoded and multipart/form-data.
enum FormData {
    static func arguments(contentType: String?, body: [UInt8]) -> [String: [String]] {
        guard let contentType, !body.isEmpty else { return [:] }
        let (type, params) = parseContentType(contentType)
        if type == "application/x-www-form-urlencoded" {
            return URLEncoding.parseQuery(String(decoding: body, as: UTF8.self))
        }
        if type == "multipart/form-data", let boundary = params["boundary"] {
            var out: [String: [String]] = [:]
            for part in multipart(body, boundary: boundary) where part.filename == nil {
                out[part.name, default: []].append(String(decoding: part.body, as: UTF8.self))
            }
            return out
        }
        return [:]
    }

    static func files(contentType: String?, body: [UInt8]) -> [String: [UploadedFile]] {
        guard let contentType, !body.isEmpty else { return [:] }
        let (type, params) = parseContentType(contentType)
        guard type == "multipart/form-data", let boundary = params["boundary"] else { return [:] }
        var out: [String: [UploadedFile]] = [:]
        for part in multipart(body, boundary: boundary) {
            if let filename = part.filename {
                out[part.name, default: []].append(UploadedFile(filename: filename, contentType: part.contentType, body: part.body))
            }
        }
        return out
    }

    /// "multipart/form-data; boundary=xyz" → ("multipart/form-data", ["boundary": "xyz"]).
    static func parseContentType(_ value: String) -> (String, [String: String]) {
        let parts = value.split(separator: ";")
        let type = parts.first.map { $0.trimmingSpaces().lowercased() } ?? ""
        var params: [String: String] = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            var v = kv[1].trimmingSpaces()
            if v.count >= 2, v.first == "\"", v.last == "\"" { v = String(v.dropFirst().dropLast()) }
            params[kv[0].trimmingSpaces().lowercased()] = v
        }
        return (type, params)
    }

    struct Part {
        var name: String
        var filename: String?
        var contentType: String
        var body: [UInt8]
    }

    /// The parts of a multipart body; malformed parts are skipped (Tornado logs and skips).
    static func multipart(_ body: [UInt8], boundary: String) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [Part] = []
        var positions: [Int] = []
        var i = 0
        while let p = find(delimiter, in: body, from: i) {
            positions.append(p)
            i = p + delimiter.count
        }
        guard positions.count >= 2 else { return [] }
        for (start, end) in zip(positions, positions.dropFirst()) {
            var s = start + delimiter.count
            // The delimiter line ends with CRLF; the part ends with CRLF before the next one.
            guard s + 2 <= end, body[s] == 13, body[s + 1] == 10 else { continue }
            s += 2
            let e = end - 2 >= s ? end - 2 : s
            let part = Array(body[s..<e])
            guard let headEnd = find(Array("\r\n\r\n".utf8), in: part, from: 0) else { continue }
            let head = String(decoding: part[0..<headEnd], as: UTF8.self)
            var headers = HTTPHeaders()
            for line in head.split(separator: "\r\n") {
                let kv = line.split(separator: ":", maxSplits: 1)
                if kv.count == 2 { headers.add(kv[0].trimmingSpaces(), kv[1].trimmingSpaces()) }
            }
            guard let disposition = headers["Content-Disposition"] else { continue }
            let (kind, params) = parseContentType(disposition)
            guard kind == "form-data", let name = params["name"] else { continue }
            parts.append(Part(name: name, filename: params["filename"],
                              contentType: headers["Content-Type"] ?? "application/unknown",
                              body: Array(part[(headEnd + 4)...])))
        }
        return parts
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
