package audit

// The NATS contract as audit repeats it, for TestStreamContract.
const (
	StreamName         = streamName
	HeaderOrderVersion = headerOrderVersion
)
