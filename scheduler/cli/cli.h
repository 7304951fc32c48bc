/* cli: the gust command line. Verbs follow Airflow's CLI ("gust dags list", "gust db
 * migrate"); exit codes are 0 ok, 1 failure, 2 usage. */
#ifndef GUST_CLI_H
#define GUST_CLI_H

/* Find the verb named by argv (argv[0] is the program), parse its arguments and run it;
 * returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
