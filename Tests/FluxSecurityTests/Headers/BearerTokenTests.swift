import Testing
import Vapor
@testable import FluxSecurity

@Suite struct BearerTokenTests {
    /// The byte-level reading agrees with Vapor's own on well-formed, odd and malformed headers alike.
    @Test(arguments: [
        "Bearer abc.def.ghi", "bearer abc", "BEARER abc", "BeArEr abc", "Bearer  abc", " Bearer abc", "Bearer abc ",
        "Bearer", "Bearer ", "Bearerabc", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearer\tabc", "Bearer ä", "Bëarer abc",
        "Bearez abc", "Bearer\u{0}abc", "Bearer abc\u{0}", "", " ", "Token abc", "bearer  ", "\u{212A}earer abc",
    ])
    func readsTheTokenAsVaporDoes(_ value: String) {
        let headers = HTTPHeaders([("Authorization", value)])
        #expect(headers.bearerToken == headers.bearerAuthorization?.token)
    }

    @Test func aMissingHeaderHasNoToken() {
        #expect(HTTPHeaders().bearerToken == nil)
        #expect(HTTPHeaders([("Authorization", "Bearer abc")]).bearerToken == "abc")
    }
}
