// Command ringchat-migrate creates the ringchat keyspace and applies pending
// schema versions. Replication is configuration: SimpleStrategy with --rf for
// development, NetworkTopologyStrategy with --dc-rf dc1:3,dc2:3 for production.
//
//	ringchat-migrate up      create the keyspace if missing, apply pending versions
//	ringchat-migrate status  list applied and pending versions
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ringchat/ringchat/cmd/internal/flagenv"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

type options struct {
	hosts, keyspace, class, dcRF, consistency string
	username, password, localDC               string
	rf                                        int
	settings                                  schema.Settings
	// replicationAsked: a replication flag or its variable was given, so a
	// keyspace that exists with another replication is a mistake to report.
	replicationAsked bool
}

func parse(args []string) (string, options, error) {
	var o options
	fe := flagenv.New("ringchat-migrate")
	fe.String(&o.hosts, "cassandra-hosts", "127.0.0.1:9042", "comma-separated contact points")
	fe.String(&o.username, "cassandra-username", "", "PasswordAuthenticator user (one that may create keyspaces and tables)")
	fe.Secret(&o.password, "cassandra-password", "PasswordAuthenticator password")
	fe.String(&o.localDC, "local-dc", "", "data centre to prefer (multi-DC rings)")
	fe.String(&o.keyspace, "keyspace", "ringchat", "keyspace to create and migrate")
	fe.String(&o.class, "replication-class", "SimpleStrategy", "SimpleStrategy or NetworkTopologyStrategy")
	fe.Int(&o.rf, "rf", 1, "replication factor (SimpleStrategy)")
	fe.String(&o.dcRF, "dc-rf", "", "per-DC factors, e.g. dc1:3,dc2:3 (implies NetworkTopologyStrategy)")
	fe.String(&o.consistency, "consistency", "LOCAL_QUORUM", "consistency of the migration bookkeeping")
	def := schema.DefaultSettings()
	fe.Duration(&o.settings.MessageBucket, "message-bucket", def.MessageBucket, "message partition window; fixed at keyspace creation")
	fe.Duration(&o.settings.InboxBucket, "inbox-bucket", def.InboxBucket, "inbox partition window; fixed at keyspace creation")
	fe.FS.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ringchat-migrate [flags] up|status")
		fe.FS.PrintDefaults()
	}
	// Flags may come before or after the subcommand.
	var cmd string
	var rest []string
	for _, a := range args {
		if cmd == "" && !strings.HasPrefix(a, "-") && (len(rest) == 0 || !needsValue(rest[len(rest)-1])) {
			cmd = a
			continue
		}
		rest = append(rest, a)
	}
	if err := fe.Parse(rest); err != nil {
		return "", o, err
	}
	fe.FS.Visit(func(f *flag.Flag) { o.replicationAsked = o.replicationAsked || replicationFlag(f.Name) })
	for _, name := range []string{"rf", "dc-rf", "replication-class"} {
		if _, ok := os.LookupEnv(flagenv.EnvName(name)); ok {
			o.replicationAsked = true
		}
	}
	if cmd != "up" && cmd != "status" {
		fe.FS.Usage()
		return "", o, fmt.Errorf("want a command: up or status")
	}
	return cmd, o, nil
}

func replicationFlag(name string) bool {
	return name == "rf" || name == "dc-rf" || name == "replication-class"
}

// needsValue reports whether a flag given as "--name" takes the next argument.
func needsValue(arg string) bool { return strings.HasPrefix(arg, "-") && !strings.Contains(arg, "=") }

// cassandra is the driver's configuration these options ask for.
func (o options) cassandra() repo.CassandraConfig {
	cfg := repo.DefaultCassandraConfig()
	cfg.Hosts = strings.Split(o.hosts, ",")
	cfg.Consistency = o.consistency
	cfg.Username, cfg.Password, cfg.LocalDC = o.username, o.password, o.localDC
	cfg.Timeout = 30 * time.Second // schema changes are slow
	return cfg
}

func (o options) replication() (schema.Replication, error) {
	if o.dcRF != "" {
		dcs, err := schema.ParseDCFactors(o.dcRF)
		return schema.Replication{Class: "NetworkTopologyStrategy", DataCenters: dcs}, err
	}
	return schema.Replication{Class: o.class, Factor: o.rf}, nil
}

func main() {
	os.Exit(cli(os.Args[1:], slog.New(slog.NewTextHandler(os.Stderr, nil))))
}

// cli runs one invocation and returns its exit code: 0 when done or when
// usage was asked for (--help), 2 for bad usage, 1 when the migration failed.
func cli(args []string, log *slog.Logger) int {
	cmd, o, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		log.Error("ringchat-migrate: bad usage", "err", err)
		return 2
	}
	if err := run(cmd, o, log); err != nil {
		log.Error("ringchat-migrate failed", "err", err)
		return 1
	}
	return 0
}

func run(cmd string, o options, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := o.cassandra()
	if cmd == "up" {
		repl, err := o.replication()
		if err != nil {
			return err
		}
		cfg.Keyspace = ""
		admin, err := repo.Connect(cfg)
		if err != nil {
			return err
		}
		// Replication asked for must be the keyspace's: CREATE KEYSPACE IF NOT
		// EXISTS would keep another one and say "up to date".
		err = schema.EnsureKeyspace(ctx, admin, o.keyspace, repl, o.replicationAsked)
		admin.Close()
		if err != nil {
			return err
		}
	}
	cfg.Keyspace = o.keyspace
	s, err := repo.Connect(cfg)
	if err != nil {
		return fmt.Errorf("open keyspace %s (run up first?): %w", o.keyspace, err)
	}
	defer s.Close()
	if cmd == "status" {
		pending, err := schema.Pending(ctx, s)
		if err != nil {
			return err
		}
		versions, _ := schema.Versions()
		for _, v := range versions {
			state := "applied"
			for _, p := range pending {
				if p.Name == v.Name {
					state = "pending"
				}
			}
			fmt.Printf("%s\t%s\n", v.Name, state)
		}
		return nil
	}
	applied, err := schema.Migrate(ctx, s, o.settings)
	if err != nil {
		return err
	}
	// Here, with the schema tool's grants, so chatd only reads it.
	if _, err := repo.EnsureSendIDKey(ctx, s); err != nil {
		return fmt.Errorf("send id key: %w", err)
	}
	log.Info("keyspace up to date", "keyspace", o.keyspace, "applied", applied)
	return nil
}
