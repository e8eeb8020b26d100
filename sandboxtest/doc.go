// Package sandboxtest starts an Open Banking sandbox inside a Go test: a
// real bank (the seeded PSUs alice, bob, carol, dave and generated ones),
// its authorization server and APIs on a loopback port, with helpers to act
// as the PSU and to move the sandbox clock. Every sandbox is its own, in a
// temporary directory, so tests run in parallel without seeing each other.
// The first sandbox of a test binary seeds its bank once into a template
// file in the system's temporary folder; later ones with the same options
// copy it, in milliseconds. The template goes with the process (a later
// one removes what an ended process left).
//
//	func TestMyTPP(t *testing.T) {
//		sb := sandboxtest.New(t)           // stopped and removed when the test ends
//		app := mytpp.New(sb.URL)           // point the code under test at the sandbox
//		consentID := app.StartConsent()    // it registers, creates a consent, pushes the authorization request
//		redirect, _ := sb.Approve(consentID) // alice logs in and approves (headless)
//		app.Callback(redirect)             // the code under test exchanges the code
//		sb.Clock.Advance(72 * time.Hour)   // pending card entries book, payments settle
//	}
package sandboxtest
