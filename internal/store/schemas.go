package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Catalog reaches the schemas of a PostgreSQL database (tenants, spares):
// through an open store's own connections (Store.Catalog), or through a
// short-lived connection per call (CatalogOf). A new connection costs a
// PostgreSQL backend's start, tens of milliseconds; a tenant's creation
// asks the catalog three times.
type Catalog struct {
	dsn string // the database's, for the connections warmed on a schema (Prewarm)
	// on runs f on a connection, with the context f's queries must use
	// (the call's deadline).
	on func(ctx context.Context, f func(context.Context, *pgx.Conn) error) error
}

// catalogTimeout bounds a catalog call: dropping a tenant's schema with
// everything in it is the longest.
const catalogTimeout = 30 * time.Second

// CatalogOf is the catalog of the database dsn names, a connection per call.
func CatalogOf(dsn string) Catalog {
	return Catalog{dsn: dsn, on: func(ctx context.Context, f func(context.Context, *pgx.Conn) error) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		return f(ctx, conn)
	}}
}

// Catalog is the catalog of the store's PostgreSQL database, on a small
// pool of the store's own (neither behind its writers nor in the way of
// its rate limits), each call within catalogTimeout.
func (s *Store) Catalog() Catalog { return s.catalogWithin(catalogTimeout) }

// catalogWithin is Catalog with each call bounded by d.
func (s *Store) catalogWithin(d time.Duration) Catalog {
	var dsn string
	if s.pg != nil {
		dsn = s.pg.dsn
	}
	return Catalog{dsn: dsn, on: func(ctx context.Context, f func(context.Context, *pgx.Conn) error) error {
		if s.pg == nil {
			return errors.New("schemas are PostgreSQL's")
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		conn, err := s.pg.catalog.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error { return f(ctx, dc.(*pgConn).Conn.Conn()) })
	}}
}

// Exists reports whether schema exists.
func (c Catalog) Exists(ctx context.Context, schema string) (bool, error) {
	var ok bool
	err := c.on(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&ok)
	})
	return ok, err
}

// List lists the schemas whose names start with prefix, in name order.
func (c Catalog) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := c.on(ctx, func(ctx context.Context, conn *pgx.Conn) (err error) {
		out, err = listSchemas(ctx, conn, prefix)
		return err
	})
	return out, err
}

func listSchemas(ctx context.Context, conn *pgx.Conn, prefix string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1", prefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Rename renames schema from to to: atomic, so of several callers
// renaming the same schema one succeeds; ErrSchemaExists when to exists.
func (c Catalog) Rename(ctx context.Context, from, to string) error {
	err := c.on(ctx, func(ctx context.Context, conn *pgx.Conn) error { return renameSchema(ctx, conn, from, to) })
	if err == nil {
		renamed(c.dsn, from, to)
	}
	return err
}

func renameSchema(ctx context.Context, conn *pgx.Conn, from, to string) error {
	if !schemaName.MatchString(from) || !schemaName.MatchString(to) {
		return fmt.Errorf("will not rename schema %q to %q", from, to)
	}
	_, err := conn.Exec(ctx, `ALTER SCHEMA "`+from+`" RENAME TO "`+to+`"`)
	return schemaExists(err)
}

// ErrSchemaExists: the schema a caller would make or take is there
// already (another process made it first).
var ErrSchemaExists = errors.New("the schema exists")

// schemaExists is err, ErrSchemaExists when it says so.
func schemaExists(err error) error {
	var pe *pgconn.PgError
	// duplicate_schema, or — when two sessions make the name at once and
	// both pass the check — the catalog's unique index on it.
	if errors.As(err, &pe) && (pe.Code == "42P06" || pe.Code == "23505" && pe.ConstraintName == "pg_namespace_nspname_index") {
		return fmt.Errorf("%w: %v", ErrSchemaExists, err)
	}
	return err
}

// Claim makes the empty schema: of several processes claiming one name at
// once exactly one succeeds, the others get ErrSchemaExists.
func (c Catalog) Claim(ctx context.Context, schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("will not make schema %q", schema)
	}
	return c.on(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CREATE SCHEMA "`+schema+`"`)
		return schemaExists(err)
	})
}

// Take renames one of the schemas whose names start with prefix to to;
// false when there was none to take (another caller may take the one
// listed first), ErrSchemaExists when to exists.
func (c Catalog) Take(ctx context.Context, prefix, to string) (bool, error) {
	took := false
	err := c.on(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		names, err := listSchemas(ctx, conn, prefix)
		if err != nil {
			return err
		}
		for _, n := range warmedFirst(c.dsn, names) {
			err := renameSchema(ctx, conn, n, to)
			if err == nil {
				renamed(c.dsn, n, to)
			}
			if err == nil || errors.Is(err, ErrSchemaExists) {
				took = err == nil
				return err
			}
		}
		return nil
	})
	return took, err
}

// Drop removes schema, with everything in it.
func (c Catalog) Drop(ctx context.Context, schema string) error {
	if !schemaName.MatchString(schema) || schema == "public" {
		return fmt.Errorf("will not drop schema %q", schema)
	}
	dropped(c.dsn, schema)
	return c.on(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`)
		return err
	})
}

// DropSchema removes the schema dsn names, with everything in it.
func DropSchema(ctx context.Context, dsn string) error {
	return CatalogOf(dsn).Drop(ctx, SchemaOf(dsn))
}
