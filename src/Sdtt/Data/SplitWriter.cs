using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Sdtt.Data;

/// <summary>Concatenates documents and writes framed chunks of one split to a temp file.</summary>
internal sealed class SplitWriter : IDisposable
{
    private readonly FileStream _fs;
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly int _seqLen;
    private readonly int[] _pending;
    private readonly byte[] _out;
    private int _count;
    private long _documents, _documentTokens, _sequences;
    private readonly string _name, _file;

    public SplitWriter(string name, string file, string tmpPath, int seqLen)
    {
        _name = name;
        _file = file;
        _seqLen = seqLen;
        _pending = new int[seqLen - 2];
        _out = new byte[2 * seqLen];
        try { _fs = new FileStream(tmpPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SdttException($"{tmpPath}: cannot write ({e.Message})"); }
    }

    public void Add(int[] ids)
    {
        _documents++;
        _documentTokens += ids.Length + 1;
        foreach (var id in ids) Push(id);
        Push(Gpt2Tokenizer.Eos);
    }

    private void Push(int id)
    {
        _pending[_count++] = id;
        if (_count < _pending.Length) return;
        BinaryPrimitives.WriteUInt16LittleEndian(_out, Gpt2Tokenizer.Bos);
        for (int i = 0; i < _pending.Length; i++)
        {
            int t = _pending[i];
            if ((uint)t > ushort.MaxValue) throw new InvalidOperationException($"token id {t} does not fit uint16");
            BinaryPrimitives.WriteUInt16LittleEndian(_out.AsSpan(2 * (i + 1)), (ushort)t);
        }
        BinaryPrimitives.WriteUInt16LittleEndian(_out.AsSpan(2 * (_seqLen - 1)), Gpt2Tokenizer.Eos);
        _fs.Write(_out);
        _sha.AppendData(_out);
        _sequences++;
        _count = 0;
    }

    public PreparedSplit Finish()
    {
        _fs.Flush(flushToDisk: true);
        return new PreparedSplit(_name, _file, _documents, _documentTokens, _sequences, _sequences * _seqLen, _count,
            Convert.ToHexStringLower(_sha.GetHashAndReset()));
    }

    public void Dispose()
    {
        _fs.Dispose();
        _sha.Dispose();
    }
}
