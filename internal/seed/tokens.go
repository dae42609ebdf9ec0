package seed

// The demo devices' well-known tokens, declared once: DemoDevices seeds them
// and tests, tools and docs name them from here. Demo tokens are public by
// design and valid only for the demo venues.
const (
	// Venue "demo".
	TokenWaiter1 = "demo-waiter-1" // Alice
	TokenWaiter2 = "demo-waiter-2" // Bruno
	TokenWaiter3 = "demo-waiter-3" // Chloe
	TokenWaiter4 = "demo-waiter-4" // Dmitri
	TokenManager = "demo-manager"  // Maria
	TokenKitchen = "demo-kitchen"  // Kitchen
	TokenAuditor = "demo-auditor"  // Olga
	// Venue "demo2".
	TokenDemo2Waiter = "demo2-waiter" // Zoe
)
