import KTModel

/// Errors in the OpenAI envelope (PRODUCT.md §4), plus `policy`/`code` for policy blocks.
public struct OpenAIError: Error, Sendable {
    public var status: Int
    public var type: String
    public var message: String
    public var code: String?
    public var param: String?
    public var policy: String?
    /// Extra response headers (Retry-After for 429).
    public var headers: [(String, String)] = []

    public init(status: Int, type: String, message: String, code: String? = nil, param: String? = nil, policy: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.param = param
        self.policy = policy
    }

    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [("type", .string(type)), ("message", .string(message))]
        if let policy { fields.append(("policy", .string(policy))) }
        fields.append(("code", .optional(code)))
        fields.append(("param", .optional(param)))
        return .object([("error", .object(fields))])
    }

    public var body: [UInt8] { Array(json.serialized().utf8) }

    public static func invalidRequest(_ message: String, status: Int = 400, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: status, type: "invalid_request_error", message: message, code: code, param: param)
    }
    public static func notFound(_ message: String, code: String) -> OpenAIError {
        OpenAIError(status: 404, type: "invalid_request_error", message: message, code: code)
    }
    public static func upstream(_ message: String, status: Int = 502, code: String = "upstream_error") -> OpenAIError {
        OpenAIError(status: status, type: "api_error", message: message, code: code)
    }
    public static func unavailable(_ message: String, code: String) -> OpenAIError {
        OpenAIError(status: 503, type: "service_unavailable", message: message, code: code)
    }
}
