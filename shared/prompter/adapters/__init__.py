"""AWS services behind small interfaces: each adapter turns its SDK's errors into domain errors in
exactly one place."""
