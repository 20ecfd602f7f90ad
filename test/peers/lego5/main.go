// Command lego5 is lego v5 as an interop peer and benchmark baseline for iamra-agent: one DNS-01 order through
// lego's own route53 provider (aws-sdk-go-v2), driven by lego's library because the lego v5 CLI cannot be built
// here (the Go module proxy refuses most of its DNS-provider dependencies).
//
// Route 53 is configured the way lego's users configure it, by environment: AWS_ENDPOINT_URL_ROUTE_53, AWS_REGION,
// AWS_HOSTED_ZONE_ID (optional: without it lego finds the zone with ListHostedZonesByName), the SDK's credential
// chain, AWS_POLLING_INTERVAL and AWS_PROPAGATION_TIMEOUT; LEGO_CA_CERTIFICATES trusts the ACME server's TLS CA.
// Flags override the two timings so a benchmark can compare lego's defaults with the agent's interval.
//
// The account key and the certificate key are made in memory for each run; the certificate (full chain) and its
// key are written to -cert and -key (0600). One JSON line of timings goes to stdout; lego's log goes to stderr.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/providers/dns/route53"
	"github.com/go-acme/lego/v5/registration"
)

type user struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *user) GetEmail() string                       { return "" }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

type timings struct {
	Domains    []string `json:"domains"`
	RegisterMs int64    `json:"registerMs"`
	ObtainMs   int64    `json:"obtainMs"`
	TotalMs    int64    `json:"totalMs"`
	// what the route53 provider ran with, after env and flags
	PollingIntervalMs    int64 `json:"pollingIntervalMs"`
	PropagationTimeoutMs int64 `json:"propagationTimeoutMs"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lego5:", err)
		os.Exit(1)
	}
}

func run() error {
	started := time.Now()
	// lego logs to stdout by default; stdout is for the timings line
	legolog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	server := flag.String("server", os.Getenv("LEGO_SERVER"), "ACME directory URL (env LEGO_SERVER)")
	domains := flag.String("domains", "", "comma-separated names for the certificate")
	resolver := flag.String("dns-resolver", os.Getenv("LEGO_DNS_RESOLVER"),
		"host:port of the recursive nameserver lego checks propagation at (env LEGO_DNS_RESOLVER); required, so that "+
			"lego never falls back to the machine's resolv.conf")
	polling := flag.Duration("polling-interval", 0, "route53 PollingInterval (0: AWS_POLLING_INTERVAL or lego's 4s)")
	timeout := flag.Duration("propagation-timeout", 0, "route53 PropagationTimeout (0: AWS_PROPAGATION_TIMEOUT or lego's 2m)")
	profile := flag.String("profile", "", "ACME profile (e.g. classic)")
	certPath := flag.String("cert", "", "where to write the certificate, leaf first then the issuer (required)")
	keyPath := flag.String("key", "", "where to write the certificate's private key (0600; default: not written)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	names := strings.Split(*domains, ",")
	switch {
	case *server == "":
		return fmt.Errorf("-server (or LEGO_SERVER) is required: the ACME directory URL")
	case *domains == "":
		return fmt.Errorf("-domains is required")
	case *resolver == "":
		return fmt.Errorf("-dns-resolver (or LEGO_DNS_RESOLVER) is required: host:port of a nameserver that answers for the zone")
	case *certPath == "":
		return fmt.Errorf("-cert is required")
	}

	// Propagation is checked at the given nameserver only. Without DisableAuthoritativeNssPropagationRequirement lego
	// would also look up the zone's NS names and ask those, through the machine's own resolver.
	opts := dns01.NewOptions()
	opts.RecursiveNameservers = []string{*resolver}
	dns01.SetDefaultClient(dns01.NewClient(opts))

	cfg := route53.NewDefaultConfig()
	if *polling > 0 {
		cfg.PollingInterval = *polling
	}
	if *timeout > 0 {
		cfg.PropagationTimeout = *timeout
	}
	provider, err := route53.NewDNSProviderConfig(cfg)
	if err != nil {
		return err
	}

	accountKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	u := &user{key: accountKey}
	lc := lego.NewConfig(u)
	lc.CADirURL = *server
	client, err := lego.NewClient(lc)
	if err != nil {
		return err
	}
	if err := client.Challenge.SetDNS01Provider(provider,
		dns01.CondOptions(true, dns01.DisableAuthoritativeNssPropagationRequirement())); err != nil {
		return err
	}

	ctx := context.Background()
	t0 := time.Now()
	u.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	t1 := time.Now()
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains:    names,
		PrivateKey: certKey,
		Bundle:     true,
		Profile:    *profile,
	})
	if err != nil {
		return fmt.Errorf("obtain: %w", err)
	}
	t2 := time.Now()

	if err := os.WriteFile(*certPath, res.Certificate, 0o644); err != nil {
		return err
	}
	if *keyPath != "" {
		if err := os.WriteFile(*keyPath, res.PrivateKey, 0o600); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(timings{
		Domains:              names,
		RegisterMs:           t1.Sub(t0).Milliseconds(),
		ObtainMs:             t2.Sub(t1).Milliseconds(),
		TotalMs:              time.Since(started).Milliseconds(),
		PollingIntervalMs:    cfg.PollingInterval.Milliseconds(),
		PropagationTimeoutMs: cfg.PropagationTimeout.Milliseconds(),
	})
}
