using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using SemCache.CacheServer.Requests;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>
/// The request checks against the reference implementation: nothing valid is refused, and nothing they let through
/// makes the parser after them fail (which would fall back to a status naming only "request").
/// </summary>
public sealed class RequestCheckTests
{
    private static readonly JsonParser Proto3 = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    [Fact]
    public void EveryValidMessageInBothEncodingsPasses()
    {
        var random = new Random(42);
        for (int i = 0; i < 500; i++)
        {
            SetManyRequest message = RandomRequest(random);
            Assert.Null(ProtobufRequestCheck.Find(message.ToByteArray(), SetManyRequest.Descriptor));
            foreach (JsonFormatter formatter in new[] { JsonFormatter.Default, new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithPreserveProtoFieldNames(true)) })
            {
                string json = formatter.Format(message);
                RequestFault? fault = JsonRequestCheck.Find(Encoding.UTF8.GetBytes(json), SetManyRequest.Descriptor);
                Assert.True(fault is null, $"{fault}: {json}");
            }
        }
    }

    [Fact]
    public void TheJsonCheckAgreesWithTheReferenceParserOnEveryFieldAndValue()
    {
        string[] values =
        [
            "null", "true", "false", "0", "1", "-1", "-0", "1.5", "1e2", "1e400", "-1e400", "1E-50", "120e-1", "4294967295", "4294967296",
            "4294967295.0", "42949672950e-1", "\"\"", "\"x\"", "\"1\"", "\"-0\"", "\"1e-50\"", "\"+1\"", "\"01\"", "\" 1\"", "\"NaN\"",
            "\"Infinity\"", "\"-Infinity\"", "\"nan\"", "\"true\"", "[]", "[1]", "[null]", "[\"a\"]", "{}", "{\"a\":\"b\"}", "{\"a\":1}",
            "{\"a\":null}", "{\"model\":\"m\"}", "{\"inputTokens\":1}", "{\"inputTokens\":\"1\"}", "{\"input_tokens\":1.0}", "{\"role\":\"user\"}",
            "[{\"role\":\"user\"}]", "[{}]", "[[1]]", "\"\\ud800\"", "\"\\u0000\"", "\"\\ud83d\\ude00\"", "3.4028235e+38", "3.5e+38", "-0.0",
        ];
        var disagreements = new List<string>();
        foreach (string field in new[] { "namespace", "ttlSeconds", "ttl_seconds", "vector", "usage", "attributes", "messages", "prompt", "unknown" })
        {
            foreach (string value in values)
            {
                string body = $"{{\"{field}\":{value}}}";
                bool reference;
                try
                {
                    Proto3.Parse<SetRequest>(body);
                    reference = true;
                }
                catch (InvalidProtocolBufferException)
                {
                    reference = false;
                }
                catch (InvalidJsonException)
                {
                    reference = false;
                }

                if (reference != JsonRequestCheck.Find(Encoding.UTF8.GetBytes(body), SetRequest.Descriptor) is null)
                {
                    disagreements.Add(body);
                }
            }
        }

        Assert.Empty(disagreements);
    }

    [Theory]
    [InlineData("")]                                   // an empty request
    [InlineData("45 00 00 80 3F 45 00 00 00 40")]      // vector unpacked: one fixed32 per element
    [InlineData("42 04 00 00 80 3F 45 00 00 00 40")]   // vector packed, then one more unpacked
    [InlineData("22 06 12 01 76 0A 01 6B")]            // a map entry with its value before its key
    [InlineData("22 03 12 01 76")]                     // a map entry without a key (the key is "")
    [InlineData("22 00")]                              // an empty map entry
    [InlineData("12 01 61 12 01 62")]                  // prompt given twice: the last wins
    [InlineData("3A 03 98 06 01")]                     // usage with an unknown varint field inside
    [InlineData("3A 03 10 80 01")]                     // usage.input_tokens of a 2-byte varint
    [InlineData("30 FF FF FF FF FF FF FF FF FF 01")]   // ttl_seconds as a 10-byte varint (truncated to 32 bits)
    public void ValidWireFormsTheGeneratorDoesNotWriteStillPass(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        Assert.Null(ProtobufRequestCheck.Find(bytes, SetRequest.Descriptor));
        _ = SetRequest.Parser.ParseFrom(bytes);
    }

    [Fact]
    public void WhatTheProtobufCheckPassesTheParserReads()
    {
        var random = new Random(7);
        int passed = 0, refused = 0;
        for (int i = 0; i < 3000; i++)
        {
            byte[] bytes = RandomRequest(random).ToByteArray();
            Mutate(bytes, random);
            if (ProtobufRequestCheck.Find(bytes, SetManyRequest.Descriptor) is null)
            {
                _ = SetManyRequest.Parser.ParseFrom(bytes); // throws if the check let something through
                passed++;
            }
            else
            {
                refused++;
            }
        }

        // Both sides were exercised: mutations the check refuses, and mutations it lets through to the parser.
        Assert.InRange(passed, 100, 2900);
        Assert.InRange(refused, 100, 2900);
    }

    [Fact]
    public void WhatTheJsonCheckPassesTheParserReads()
    {
        var random = new Random(11);
        int passed = 0, refused = 0;
        string[] inserts = ["null", "1", "-1", "1.5", "\"x\"", "[]", "{}", "true", "\"\\ud800\"", "1e40", "\"NaN\"", ",", ":", "\"", "]", "}"];
        for (int i = 0; i < 3000; i++)
        {
            var json = new StringBuilder(JsonFormatter.Default.Format(RandomRequest(random)));
            int at = random.Next(json.Length);
            if (random.Next(2) == 0)
            {
                json.Remove(at, Math.Min(random.Next(1, 4), json.Length - at));
            }

            json.Insert(random.Next(json.Length), inserts[random.Next(inserts.Length)]);
            string text = json.ToString();
            if (JsonRequestCheck.Find(Encoding.UTF8.GetBytes(text), SetManyRequest.Descriptor) is null)
            {
                _ = Proto3.Parse<SetManyRequest>(text); // throws if the check let something through
                passed++;
            }
            else
            {
                refused++;
            }
        }

        Assert.InRange(passed, 100, 2900);
        Assert.InRange(refused, 100, 2900);
    }

    private static void Mutate(byte[] bytes, Random random)
    {
        if (bytes.Length == 0)
        {
            return;
        }

        switch (random.Next(3))
        {
            case 0:
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                break;
            case 1:
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                break;
            default:
                Array.Fill(bytes, (byte)0xFF, random.Next(bytes.Length), 1);
                break;
        }
    }

    private static SetManyRequest RandomRequest(Random random)
    {
        var request = new SetManyRequest();
        for (int e = random.Next(0, 4); e > 0; e--)
        {
            var entry = new SetRequest
            {
                Namespace = Text(random),
                Prompt = Text(random),
                Response = Text(random),
                TtlSeconds = (uint)random.Next(0, 3) switch { 0 => 0u, 1 => (uint)random.Next(), _ => uint.MaxValue },
            };
            if (random.Next(2) == 0)
            {
                entry.Usage = new Usage { Model = Text(random), InputTokens = (uint)random.Next(), OutputTokens = uint.MaxValue };
            }

            for (int m = random.Next(0, 3); m > 0; m--)
            {
                entry.Messages.Add(new ChatMessage { Role = Text(random), Content = Text(random) });
            }

            for (int a = random.Next(0, 3); a > 0; a--)
            {
                entry.Attributes[Text(random) + a] = Text(random);
            }

            for (int v = random.Next(0, 5); v > 0; v--)
            {
                entry.Vector.Add(random.Next(4) switch { 0 => float.MaxValue, 1 => -0f, 2 => float.Epsilon, _ => (float)(random.NextDouble() * 2 - 1) });
            }

            request.Entries.Add(entry);
        }

        return request;
    }

    private static string Text(Random random)
    {
        string[] pieces = ["a", "é", "中文", "😀", " ", "\"", "\\", "\n", "\u0000", "k.e[y]"];
        var text = new StringBuilder();
        for (int i = random.Next(0, 4); i > 0; i--)
        {
            text.Append(pieces[random.Next(pieces.Length)]);
        }

        return text.ToString();
    }
}
