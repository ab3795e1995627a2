namespace Sdtt;

/// <summary>An error caused by the user's input or environment. Its message is one line that says what to do;
/// the command-line tool prints it without a stack trace and exits non-zero.</summary>
public class SdttException : Exception
{
    public SdttException(string message) : base(message) { }
    public SdttException(string message, Exception inner) : base(message, inner) { }
}
