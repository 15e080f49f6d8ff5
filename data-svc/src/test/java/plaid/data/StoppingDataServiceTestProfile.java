package plaid.data;

/** The usual profile in an application of its own, so that stopping its in-flight work leaves other tests' alone. */
public class StoppingDataServiceTestProfile extends DataServiceTestProfile {}
