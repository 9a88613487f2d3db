/*
 * store_same.h - the unit tests' check that two store_file rows are the
 * same, field by field (test_store.c, test_store_readall.c).  Include
 * after cmocka.h and store.h.
 */
#ifndef DEIDFS_TEST_STORE_SAME_H
#define DEIDFS_TEST_STORE_SAME_H

static void assert_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same(const struct store_file *a, const struct store_file *b)
{
	assert_int_equal(a->id, b->id);
	assert_str_eq(a->path, b->path);
	assert_true(a->src_size == b->src_size);
	assert_true(a->src_mtime_ns == b->src_mtime_ns);
	assert_true(a->src_ino == b->src_ino);
	assert_true(a->src_ctime_ns == b->src_ctime_ns);
	assert_str_eq(a->opts, b->opts);
	assert_int_equal(a->status, b->status);
	assert_true(a->out_size == b->out_size);
	assert_true(a->header_len == b->header_len);
	assert_str_eq(a->patient_id, b->patient_id);
	assert_str_eq(a->study_date, b->study_date);
	assert_str_eq(a->pseudonym, b->pseudonym);
	assert_str_eq(a->study_uid, b->study_uid);
	assert_str_eq(a->series_uid, b->series_uid);
	assert_str_eq(a->sop_uid, b->sop_uid);
	assert_str_eq(a->modality, b->modality);
	assert_str_eq(a->laterality, b->laterality);
	assert_str_eq(a->view_position, b->view_position);
	assert_true(a->series_number == b->series_number);
	assert_true(a->instance_number == b->instance_number);
	assert_str_eq(a->view_path, b->view_path);
	assert_true(a->out_mtime_ns == b->out_mtime_ns);
	assert_str_eq(a->study_time, b->study_time);
	assert_str_eq(a->q_rule, b->q_rule);
	assert_str_eq(a->q_path, b->q_path);
}

#endif
