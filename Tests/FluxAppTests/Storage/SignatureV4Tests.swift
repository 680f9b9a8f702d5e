@testable import FluxApp
import Foundation
import Testing

/// Signature Version 4 against AWS's published examples: cases of the aws-sig-v4-test-suite (service
/// "service"), the IAM ListUsers example of the signing documentation, and the S3 examples of
/// "Authenticating Requests: Using the Authorization Header" (which sign x-amz-content-sha256 and a Range).
@Suite struct SignatureV4Tests {
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    static let suiteSigner = SignatureV4(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecretValue("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                         region: "us-east-1", service: "service")
    static let s3Signer = SignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: SecretValue("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                      region: "us-east-1", service: "s3")
    static let suiteHeaders = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(String, String)]
        let headers: [(String, String)]
        let signature: String
        var testDescription: String { name }
    }

    static let suite: [Case] = [
        Case(name: "get-vanilla", method: "GET", path: "/", query: [], headers: suiteHeaders,
             signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Case(name: "post-vanilla", method: "POST", path: "/", query: [], headers: suiteHeaders,
             signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Case(name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
             headers: suiteHeaders, signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Case(name: "get-header-value-trim", method: "GET", path: "/", query: [],
             headers: suiteHeaders + [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
             signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ]

    @Test(arguments: suite) func awsTestSuiteCase(_ example: Case) {
        let authorization = Self.suiteSigner.authorization(method: example.method, path: example.path, query: example.query,
                                                           headers: example.headers, payloadHash: SignatureV4.emptyPayloadHash, date: Self.suiteDate)
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="))
        #expect(authorization.hasSuffix("Signature=\(example.signature)"))
    }

    @Test func iamListUsersExampleFromTheSigningDocumentation() {
        let signer = SignatureV4(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecretValue("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1", service: "iam")
        let authorization = signer.authorization(
            method: "GET", path: "/", query: [("Action", "ListUsers"), ("Version", "2010-05-08")],
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"),
                      ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SignatureV4.emptyPayloadHash, date: Self.suiteDate)
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    @Test func s3GetObjectWithRangeExample() {
        let authorization = Self.s3Signer.authorization(
            method: "GET", path: "/test.txt", query: [],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SignatureV4.emptyPayloadHash),
                      ("x-amz-date", "20130524T000000Z")],
            payloadHash: SignatureV4.emptyPayloadHash, date: Self.s3Date)
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectExampleEncodesTheKeyOnce() {
        let payloadHash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  // "Welcome to Amazon S3."
        let authorization = Self.s3Signer.authorization(
            method: "PUT", path: "/" + SignatureV4.encode("test$file.text", keepSlash: true), query: [],
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("Host", "examplebucket.s3.amazonaws.com"),
                      ("x-amz-content-sha256", payloadHash), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: payloadHash, date: Self.s3Date)
        #expect(authorization.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    }

    @Test func s3ListObjectsExampleSortsTheQuery() {
        let authorization = Self.s3Signer.authorization(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SignatureV4.emptyPayloadHash),
                      ("x-amz-date", "20130524T000000Z")],
            payloadHash: SignatureV4.emptyPayloadHash, date: Self.s3Date)
        #expect(authorization.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func theSecretNeverAppearsInTheHeader() {
        let authorization = Self.s3Signer.authorization(method: "GET", path: "/", query: [], headers: [("Host", "h"), ("x-amz-date", "x")],
                                                        payloadHash: SignatureV4.emptyPayloadHash, date: Self.s3Date)
        #expect(!authorization.contains("wJalrXUtnFEMI"))
        #expect(String(describing: Self.s3Signer).contains("wJalrXUtnFEMI") == false)
    }
}
