using System.Buffers;
using System.Text;

namespace SemCache.Proxy;

/// <summary>One server-sent event, with the exact bytes it arrived as (so that it can be passed on unchanged).</summary>
/// <param name="Type">Its <c>event:</c> field, or null.</param>
/// <param name="Data">Its <c>data:</c> lines joined by <c>\n</c>.</param>
/// <param name="Raw">The bytes it arrived as, up to and including the blank line that ended it.</param>
internal readonly record struct SseEvent(string? Type, string Data, ReadOnlyMemory<byte> Raw);

/// <summary>
/// Splits a stream of server-sent events into events as bytes arrive, at whatever positions the network cut them
/// (inside a line, a multi-byte character, or between the two characters of <c>\r\n</c>). Follows the HTML living
/// standard's parsing: lines end with <c>\r\n</c>, <c>\n</c> or <c>\r</c>; a blank line dispatches; <c>:</c> starts a
/// comment; one leading space after the colon is dropped.
/// </summary>
internal sealed class SseEventReader
{
    private readonly ArrayBufferWriter<byte> _raw = new(1024);
    private readonly ArrayBufferWriter<byte> _line = new(256);
    private readonly StringBuilder _data = new(256);
    private string? _type;
    private bool _hasField;
    private bool _skipLineFeed;

    /// <summary>Bytes received since the last event ended (an event in progress, or a tail that never ended).</summary>
    public ReadOnlyMemory<byte> Pending => _raw.WrittenMemory;

    /// <summary>Feeds bytes; every event they complete is added to <paramref name="events"/>.</summary>
    public void Feed(ReadOnlySpan<byte> bytes, List<SseEvent> events)
    {
        int start = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            byte b = bytes[i];
            if (_skipLineFeed)
            {
                _skipLineFeed = false;
                if (b == (byte)'\n')
                {
                    continue;
                }
            }

            if (b is (byte)'\r' or (byte)'\n')
            {
                _raw.Write(bytes[start..(i + 1)]);
                start = i + 1;
                _skipLineFeed = b == (byte)'\r';
                if (EndLine() is SseEvent e)
                {
                    events.Add(e);
                }
            }
            else
            {
                _line.Write(bytes.Slice(i, 1));
            }
        }

        _raw.Write(bytes[start..]);
    }

    private SseEvent? EndLine()
    {
        ReadOnlySpan<byte> line = _line.WrittenSpan;
        if (line.IsEmpty)
        {
            if (!_hasField)
            {
                return null; // a blank line with nothing before it stays in the next event's bytes
            }

            if (_data.Length > 0 && _data[^1] == '\n')
            {
                _data.Length--;
            }

            var e = new SseEvent(_type, _data.ToString(), _raw.WrittenMemory.ToArray());
            _raw.Clear();
            _data.Clear();
            _type = null;
            _hasField = false;
            return e;
        }

        _hasField = true;
        int colon = line.IndexOf((byte)':');
        if (colon != 0)
        {
            ReadOnlySpan<byte> name = colon < 0 ? line : line[..colon];
            ReadOnlySpan<byte> value = colon < 0 ? default : line[(colon + 1)..];
            if (!value.IsEmpty && value[0] == (byte)' ')
            {
                value = value[1..];
            }

            if (name.SequenceEqual("data"u8))
            {
                _data.Append(Encoding.UTF8.GetString(value)).Append('\n');
            }
            else if (name.SequenceEqual("event"u8))
            {
                _type = Encoding.UTF8.GetString(value);
            }
        }

        _line.Clear();
        return null;
    }
}
