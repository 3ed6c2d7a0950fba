import Foundation
import Testing
import KTModel

@Suite struct FoundationJSONTests {
    /// What FoundationJSON writes parses back to what JSONSerialization read, for every kind of
    /// value a request body holds (escapes, control characters, non-ASCII, big and small numbers).
    @Test func roundTripsWhatJSONSerializationParsed() throws {
        let documents = [
            #"{"model":"gpt-4o","stream":false,"temperature":0.7,"max_tokens":4096,"n":1,"seed":-12,"logit_bias":{"50256":-100}}"#,
            #"{"messages":[{"role":"user","content":"quote \" backslash \\ tab \t newline \n bell \u0007 del \u007f é 😀 / end"}]}"#,
            #"{"a":[true,false,null,[],{},[[1]],""],"big":18446744073709551615,"neg":-9223372036854775808,"tiny":5e-324,"huge":1.7976931348623157e308,"zero":-0.0}"#,
            #"{"nested":{"k":{"k":{"k":[1.5,2.25,{"x":"y"}]}}},"unicode":"\u2028\u2029\ud83d\ude00"}"#,
        ]
        for doc in documents {
            let parsed = try JSONSerialization.jsonObject(with: Data(doc.utf8))
            let written = try #require(FoundationJSON.bytes(parsed))
            let again = try JSONSerialization.jsonObject(with: Data(written))
            #expect((parsed as! NSDictionary).isEqual(again as! NSDictionary), "\(String(decoding: written, as: UTF8.self))")
            let sorted = try #require(FoundationJSON.bytes(parsed, sortedKeys: true))
            let sortedAgain = try JSONSerialization.jsonObject(with: Data(sorted))
            #expect((sortedAgain as! NSDictionary).isEqual(parsed as! NSDictionary))
        }
    }

    @Test func booleansStayBooleansAndIntegersStayIntegers() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"b":true,"f":false,"i":1,"z":0,"d":1.5}"#.utf8))
        #expect(String(decoding: try #require(FoundationJSON.bytes(parsed, sortedKeys: true)), as: UTF8.self) == #"{"b":true,"d":1.5,"f":false,"i":1,"z":0}"#)
    }

    @Test func refusesWhatJSONCannotSay() {
        #expect(FoundationJSON.bytes(["x": Double.nan]) == nil)
        #expect(FoundationJSON.bytes(["x": Date()]) == nil)
    }
}
