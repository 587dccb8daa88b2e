// Package pipeline owns the configuration file, runs, stages and their
// manifests, sharding, and the executor that runs stages (extract → features →
// train → score → publish) locally or as distributed jobs. Every stage writes
// its outputs under runs/<run-id>/<stage>/ atomically with a manifest, so a
// crashed or repeated run resumes and never publishes twice.
package pipeline
