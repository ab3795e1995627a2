namespace Sdtt;

/// <summary>An error caused by the user's input or environment. Its message is one line that says what to do;
/// the command-line tool prints it without a stack trace and exits non-zero.</summary>
public class SdttException : Exception
{
    /// <summary>An error with a one-line <paramref name="message"/>.</summary>
    public SdttException(string message) : base(message) { }
    /// <summary>An error with a one-line <paramref name="message"/> caused by <paramref name="inner"/>.</summary>
    public SdttException(string message, Exception inner) : base(message, inner) { }
}
