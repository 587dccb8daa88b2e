package datasets

import "context"

type watermarkTracker struct{ last string }

func openParquet(ctx context.Context, path, display string) (sourceReader, error) {
	return nil, &InputError{File: display, Msg: "parquet not yet"}
}
func openSQLite(ctx context.Context, src *Source, display string) (sourceReader, error) {
	return nil, &InputError{File: display, Msg: "sqlite not yet"}
}
func openPostgres(ctx context.Context, src *Source, display string) (sourceReader, error) {
	return nil, &InputError{File: display, Msg: "postgres not yet"}
}
func sqlWatermark(ctx context.Context, src *Source) (int64, string, error) { return 0, "", nil }
